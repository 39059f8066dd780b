// Sealing secrets that must be kept readable for a while (an e-mailed code waiting for the mail
// server) with `secrets.encryption`: JWE compact, direct key agreement, AES-256-GCM (jose).
import { CompactEncrypt, compactDecrypt } from 'jose';

function key(encryptionSecret: string): Uint8Array {
  return Uint8Array.from(Buffer.from(encryptionSecret, 'hex'));
}

export async function seal(encryptionSecret: string, value: string): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(value))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
    .encrypt(key(encryptionSecret));
}

export async function unseal(encryptionSecret: string, sealed: string): Promise<string> {
  const { plaintext } = await compactDecrypt(sealed, key(encryptionSecret));
  return new TextDecoder().decode(plaintext);
}
