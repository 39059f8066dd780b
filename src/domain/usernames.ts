// MAS's localpart rules: lower-case [a-z0-9._=/+-], not only digits, and the resulting MXID at
// most 255 characters.

const LOCALPART = /^[a-z0-9._=/+-]+$/;

/** The Matrix user id of a local user: `@localpart:server_name`. */
export function matrixUserId(localpart: string, serverName: string): string {
  return `@${localpart}:${serverName}`;
}

export type UsernameProblem = 'empty' | 'characters' | 'digits' | 'too_long';

const USERNAME_PROBLEMS: Record<UsernameProblem, string> = {
  empty: 'username is empty',
  characters: 'username may only contain a-z, 0-9 and . _ = / + -',
  digits: 'username cannot be only digits',
  too_long: 'username is too long',
};

/** What is wrong with a localpart, as a code (pages translate it); undefined when nothing is. */
export function usernameProblem(localpart: string, serverName?: string): UsernameProblem | undefined {
  if (localpart.length === 0) return 'empty';
  if (!LOCALPART.test(localpart)) return 'characters';
  if (/^[0-9]+$/.test(localpart)) return 'digits';
  if (serverName && matrixUserId(localpart, serverName).length > 255) return 'too_long';
  if (!serverName && localpart.length > 255) return 'too_long';
  return undefined;
}

export function validateUsername(localpart: string, serverName?: string): string | undefined {
  const problem = usernameProblem(localpart, serverName);
  return problem && USERNAME_PROBLEMS[problem];
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
