// The published placeholder secrets of `config generate --example` (and config.example.yaml).
// They are real keys so the example passes `config check`, which warns whenever it meets them:
// anyone can read them here, so a deployment using them has no secrets at all.

export const EXAMPLE_ENCRYPTION_SECRET = '0000111122223333444455556666777788889999aaaabbbbccccddddeeeeffff';

export const EXAMPLE_MATRIX_SECRET = 'ExampleSharedSecretReplaceMe0000';

export const EXAMPLE_KEYS: { kid: string; key: string }[] = [
  {
    kid: 'example-rsa',
    key: `
-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC3A7hsZlvVWnzh
F0XXlYXzV2rnTXyB1TYTPGj5CigQ73x5YsegyUCIDCteYGiztuRuCwIcepuvg/NQ
nUcSCAS9HjNve4IUu0kqfHYOxNFFZ6rFVZnZNlFaycKX66vgwRya2gOT/Xr7+cRp
fYVUfVA5RBlmQZkv4aB0XLIvkzucjOJuFDMd4dwBC+Z5uJ4xxMzHTQ9RudOw4gtE
h1S4WNfLl6acL/G5/M/N/6zXEcVqId2h2a31NhAIAutz8WvJ70MaH6NnGaQQhdWi
h5Ls1QUrlAfOTUTOPpmx/l0kxVmp7fv+XMZKSbdiYIKgSAqVey3F07n9I3fKyhkx
91I5lgKTAgMBAAECggEACfRX2ag6TSveKFgdt7uC964aOyPfJn4JskN86jQqjbvu
Ufk/e81hMdqHmVs2bAqso2z8hmlc18/I3OpRF/f7r1WvMocjQiwVr2E/AqVN71p+
KBGfNqNaYCJ37896dSp2ey2/OBN3gbEfhSVgqoHOapmmUAY4ENSoPOwLJ8SjChbA
DestV+zsY9LKq4z890ce3IEjqh4Z1FnsrFXLxCON/47qJpbShvAzq/8RqTx15nCq
bM46VahMUyYTCM1KRdyr7kuOIrfSVV3OIIPDRzEtJmADBu8he2i9FMKKxlgy93sT
z3DHUDzrEITctrp+47MM87B/jKWOtuDeXMbi+ROY0QKBgQDnffZLhlSFdPZPL6v9
ofq3+kRcXyiEjJD9DBoL9oLRm5Q5w/QLuVxvv1HWdz0Y9+d1YmSqZqHejT7kQFsW
reZ104tzMbKhuJqWkFFcM5t/a7Hl8Nfzc8xwSyH0ieHgA3vRvtfPerDeEzqHKvMy
dlu+hGJA+RHNU/htowtZZQwQHwKBgQDKY+Q3tRK/3x1PyKlXJYsc0sd6XK47GL97
mfeYMLiFmtuctbFC5tDtR/udYOAVIxgc4QtES5nYFZ7ENMLH+u5jcf4cIN23ngya
+P0D565RjDAq2JA+KeHriE5wGyE9D3xRbCWJ0SkOu5iDE4bnSOBJF5cQLZhLffuR
xyLC+IyvDQKBgQC8Z+V8BIFn+RC61CbcD+g5soPO1lfowWsDuMS+Ncy1AjW6agSH
Qj68aG8X6QYd+y4zeHhLw6o8sqKcLNC1/aUTArB9edZUDyYqIp1FOG93XlR0u/dW
mkmqn0usdkgTBWLSC8wjfkzTAb1h44/54yC6R46cKNrXTV9lBA0pnbcaqwKBgQDC
Ci1232r/fDkNEjSQ8dTDKK7JeOwuipajOUWxqxxuM79UKrqtisBKjlYFWCje+wuW
PIjhzJ3OF0RllrQcqU8/Fr5rV3NbJPOu7QMfaFOvqXlQytrYTq1kdQXG46vlb+Bf
7BC9ZkQ39NHO8bzIKA2o5i4V+7Dkx/+Wj1abmVLATQKBgCQ6NS87GyejMow0LoN1
2x1Kjkxe8ql0nwW7SC0kmRF3PfDxvGY4lZaIYH813zXmpJfF6aMqN0V83bHsmp29
DLpms8n9EA/LnEIzamLKaL5vmhgYnhARiBdK0Ore9uEGx/sieigSVWou6Y6ZXJGG
jN0vVmiwrijLe9KRsNnpzrNv
-----END PRIVATE KEY-----
`.trimStart(),
  },
  {
    kid: 'example-ec',
    key: `
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQUi9mj/Nx4bIS11A
kndmgkCIJ88VtCIDILJiMLcwe4uhRANCAAQh/UzQ+HqgJHLbYhXTod13zHiOF0je
tVpUqo4V2sQ/mopkeITRDykoENftFPM5yAY8VFgauFXPloO1US/jg4iY
-----END PRIVATE KEY-----
`.trimStart(),
  },
];
