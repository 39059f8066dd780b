// Provider secrets (client secrets, Sign in with Apple keys) as stored in the database: JWE
// compact, direct key agreement with AES-256-GCM under `secrets.encryption` (jose).
import { CompactEncrypt, compactDecrypt } from 'jose';

function key(encryptionSecret: string): Uint8Array {
  return Uint8Array.from(Buffer.from(encryptionSecret, 'hex'));
}

export async function encryptSecret(encryptionSecret: string, value: string): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(value))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: 'mauth-upstream-secret' })
    .encrypt(key(encryptionSecret));
}

/** Throws when the value was encrypted under another key (secrets.encryption changed). */
export async function decryptSecret(encryptionSecret: string, encrypted: string): Promise<string> {
  const { plaintext } = await compactDecrypt(encrypted, key(encryptionSecret));
  return new TextDecoder().decode(plaintext);
}
