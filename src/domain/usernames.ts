// MAS's localpart rules: lower-case [a-z0-9._=/+-], not only digits, and the resulting MXID at
// most 255 characters.

const LOCALPART = /^[a-z0-9._=/+-]+$/;

/** The Matrix user id of a local user: `@localpart:server_name`. */
export function matrixUserId(localpart: string, serverName: string): string {
  return `@${localpart}:${serverName}`;
}

export function validateUsername(localpart: string, serverName?: string): string | undefined {
  if (localpart.length === 0) return 'username is empty';
  if (!LOCALPART.test(localpart)) return 'username may only contain a-z, 0-9 and . _ = / + -';
  if (/^[0-9]+$/.test(localpart)) return 'username cannot be only digits';
  if (serverName && matrixUserId(localpart, serverName).length > 255) return 'username is too long';
  if (!serverName && localpart.length > 255) return 'username is too long';
  return undefined;
}

/** Accepts `alice`, `Alice`, `@alice:example.com` (for this server) and returns the localpart. */
export function localpartFromLogin(input: string, serverName: string): string | undefined {
  const trimmed = input.trim();
  if (trimmed.startsWith('@')) {
    const sep = trimmed.indexOf(':');
    if (sep < 0) return undefined;
    if (trimmed.slice(sep + 1).toLowerCase() !== serverName.toLowerCase()) return undefined;
    return trimmed.slice(1, sep).toLowerCase();
  }
  return trimmed.toLowerCase();
}
