// Signing keys from `secrets.keys` (PEM, PKCS#8 or SEC1/PKCS#1 as openssl writes them) as JWKs.
import { createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import type { SigningKey } from '../config/types.js';

function algFor(jwk: JWK): string {
  if (jwk.kty === 'RSA') return 'RS256';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  if (jwk.kty === 'EC' && jwk.crv === 'P-384') return 'ES384';
  if (jwk.kty === 'EC' && jwk.crv === 'secp256k1') return 'ES256K';
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  throw new Error(`unsupported signing key type ${jwk.kty}${jwk.crv ? ` (${jwk.crv})` : ''}`);
}

export async function loadSigningKeys(keys: SigningKey[]): Promise<JWK[]> {
  const out: JWK[] = [];
  for (const [index, entry] of keys.entries()) {
    const pem = entry.key ?? (entry.key_file ? await readFile(entry.key_file, 'utf8') : undefined);
    if (!pem) throw new Error(`secrets.keys[${index}] has neither key nor key_file`);
    const passphrase = entry.password;
    const keyObject = createPrivateKey(passphrase ? { key: pem, passphrase } : { key: pem });
    const jwk = await exportJWK(keyObject);
    jwk.alg = algFor(jwk);
    jwk.use = 'sig';
    jwk.kid = entry.kid ?? (await calculateJwkThumbprint(jwk));
    out.push(jwk);
  }
  // oidc-provider picks the first key of an algorithm family; put RSA first so RS256 is the
  // default ID token algorithm, as Matrix clients expect.
  return out.sort((a, b) => Number(b.kty === 'RSA') - Number(a.kty === 'RSA'));
}
