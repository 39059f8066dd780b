// MAS keeps the secrets of registered clients encrypted with its `secrets.encryption` key:
// ChaCha20-Poly1305, a random 12-byte nonce, stored as base64(nonce || ciphertext || tag). An
// operator moving from MAS keeps that key as Mauth's `secrets.encryption` (the configurations
// share the name), so the importer can read the secrets back and store them Mauth's way.
import { createDecipheriv } from 'node:crypto';

const NONCE = 12;
const TAG = 16;

/** The plain secret, or undefined when it was not encrypted with this key. */
export function decryptMasSecret(encryptionKeyHex: string, encrypted: string): string | undefined {
  try {
    const raw = Buffer.from(encrypted, 'base64');
    if (raw.length < NONCE + TAG) return undefined;
    const decipher = createDecipheriv('chacha20-poly1305', Buffer.from(encryptionKeyHex, 'hex'), raw.subarray(0, NONCE), { authTagLength: TAG });
    decipher.setAuthTag(raw.subarray(raw.length - TAG));
    return Buffer.concat([decipher.update(raw.subarray(NONCE, raw.length - TAG)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
