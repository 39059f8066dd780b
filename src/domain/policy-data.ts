// The data the policies evaluate, as MAS's default policy reads it (`data.*` in its rego files),
// read once into typed objects: lists of strings, string constraints with their regexes
// compiled, IP lists ready to test, and the session limits. Anything the policies would not use
// (an unknown key, a value of the wrong type, a regex or CIDR that does not parse) is a problem
// named by its path, so the configuration and the admin API can refuse it instead of ignoring it.
//
// The layers merge as MAS merges them (mergePolicyData): the built-in base (`server_name` from
// `matrix.homeserver`, `session_limit` from `experimental.session_limit`), then `policy.data`
// from the configuration, then the data set through the admin API. Objects merge key by key,
// lists are appended, scalars are replaced, and null clears a value (a cleared key is unset).
import { BlockList, isIP } from 'node:net';

declare const VALIDATED: unique symbol;

/** MAS's string constraints (`common.matches_string_constraints`): any one that matches counts. */
export interface StringMatcher {
  readonly literals: readonly string[];
  readonly substrings: readonly string[];
  readonly regexes: readonly RegExp[];
  readonly prefixes: readonly string[];
  readonly suffixes: readonly string[];
}

/** IP addresses and CIDR ranges, IPv4 and IPv6 (`common.ip_in_list`). */
export interface IpMatcher {
  readonly entries: readonly string[];
  contains(ip: string): boolean;
}

/** `experimental.session_limit` (MAS's `data.session_limit`). */
export interface SessionLimit {
  readonly soft_limit: number;
  readonly hard_limit: number;
  readonly max_session_threshold?: number;
  readonly dangerous_hard_limit_eviction: boolean;
}

export interface ClientRegistrationData {
  readonly allow_host_mismatch: boolean;
  readonly allow_insecure_uris: boolean;
  readonly allow_missing_client_uri: boolean;
}

export interface PolicyData {
  /** Made only by parsePolicyData: a raw object cannot be cast into one. */
  readonly [VALIDATED]: true;
  readonly server_name: string;
  readonly admin_users: readonly string[];
  readonly admin_clients: readonly string[];
  readonly client_registration: ClientRegistrationData;
  readonly registration: { readonly allowed_usernames?: StringMatcher; readonly banned_usernames?: StringMatcher };
  readonly emails: { readonly allowed_addresses?: StringMatcher; readonly banned_addresses?: StringMatcher };
  /** Unset: every domain; set (even empty): only these. */
  readonly allowed_domains?: readonly string[];
  readonly banned_domains: readonly string[];
  readonly requester: { readonly banned_ips?: IpMatcher; readonly banned_user_agents?: StringMatcher };
  readonly session_limit?: SessionLimit;
}

export interface PolicyDataProblem {
  /** `registration.banned_usernames.regexes[2]`; empty for the whole object. */
  path: string;
  message: string;
}

export type PolicyDataObject = Record<string, unknown>;

export class PolicyDataMergeError extends Error {
  override readonly name = 'PolicyDataMergeError';
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  return typeof value === 'object' ? 'object' : typeof value;
}

function mergeValue(base: unknown, overlay: unknown, path: string): unknown {
  if (overlay === null || base === null || base === undefined) return overlay;
  const [b, o] = [kind(base), kind(overlay)];
  const named = (k: string) => (k === 'object' ? 'an object' : `a ${k}`);
  if (b !== o) throw new PolicyDataMergeError(`cannot merge ${named(o)} into ${named(b)} at ${path || 'the top'}`);
  if (b === 'list') return [...(base as unknown[]), ...(overlay as unknown[])];
  if (b === 'object') {
    const out: PolicyDataObject = { ...(base as PolicyDataObject) };
    for (const [key, value] of Object.entries(overlay as PolicyDataObject)) out[key] = mergeValue(out[key], value, path ? `${path}.${key}` : key);
    return out;
  }
  return overlay;
}

/** `overlay` merged over `base` (neither is changed); throws PolicyDataMergeError. */
export function mergePolicyData(base: PolicyDataObject, overlay: PolicyDataObject): PolicyDataObject {
  return mergeValue(base, overlay, '') as PolicyDataObject;
}

/** What Mauth itself puts under the operator's data, as MAS does. */
export interface PolicyDataBase {
  server_name: string;
  session_limit?: Record<string, unknown>;
}

// --- reading ---

class Reader {
  readonly problems: PolicyDataProblem[] = [];

  problem(path: string, message: string): undefined {
    this.problems.push({ path, message });
    return undefined;
  }

  /** An object with only `known` keys (a null or missing value is undefined). */
  object(value: unknown, path: string, known: readonly string[]): PolicyDataObject | undefined {
    if (value === undefined || value === null) return undefined;
    if (kind(value) !== 'object') return this.problem(path, 'must be a mapping');
    const obj = value as PolicyDataObject;
    for (const key of Object.keys(obj)) {
      if (!known.includes(key)) this.problem(join(path, key), `is not a key the policies know (expected one of ${known.join(', ')})`);
    }
    return obj;
  }

  strings(value: unknown, path: string): string[] | undefined {
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) return this.problem(path, 'must be a list of strings');
    const bad = value.findIndex((v) => typeof v !== 'string');
    if (bad >= 0) return this.problem(`${path}[${bad}]`, 'must be a string');
    return value as string[];
  }

  boolean(value: unknown, path: string): boolean {
    if (value === undefined || value === null) return false;
    if (typeof value !== 'boolean') return this.problem(path, 'must be true or false') ?? false;
    return value;
  }

  positive(value: unknown, path: string): number | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) return this.problem(path, 'must be a whole number of at least 1');
    return value;
  }

  matcher(value: unknown, path: string): StringMatcher | undefined {
    const obj = this.object(value, path, ['literals', 'substrings', 'regexes', 'prefixes', 'suffixes']);
    if (!obj) return undefined;
    const regexes: RegExp[] = [];
    (this.strings(obj.regexes, join(path, 'regexes')) ?? []).forEach((pattern, i) => {
      try {
        regexes.push(new RegExp(pattern));
      } catch (err) {
        this.problem(`${join(path, 'regexes')}[${i}]`, `is not a regular expression: ${(err as Error).message}`);
      }
    });
    return {
      literals: this.strings(obj.literals, join(path, 'literals')) ?? [],
      substrings: this.strings(obj.substrings, join(path, 'substrings')) ?? [],
      regexes,
      prefixes: this.strings(obj.prefixes, join(path, 'prefixes')) ?? [],
      suffixes: this.strings(obj.suffixes, join(path, 'suffixes')) ?? [],
    };
  }

  ips(value: unknown, path: string): IpMatcher | undefined {
    const entries = this.strings(value, path);
    if (!entries) return undefined;
    const list = new BlockList();
    entries.forEach((entry, i) => {
      const [address, prefix, extra] = entry.split('/');
      const family = isIP(address);
      const bits = family === 4 ? 32 : 128;
      if (family === 0 || extra !== undefined || (prefix !== undefined && !/^\d{1,3}$/.test(prefix)) || Number(prefix ?? 0) > bits) {
        this.problem(`${path}[${i}]`, 'must be an IP address or a CIDR range (192.168.1.0/24, fe80::/64)');
        return;
      }
      list.addSubnet(address, prefix === undefined ? bits : Number(prefix), family === 4 ? 'ipv4' : 'ipv6');
    });
    return {
      entries,
      contains(ip: string) {
        const family = isIP(ip);
        return family !== 0 && list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
      },
    };
  }

  sessionLimit(value: unknown, path: string): SessionLimit | undefined {
    const obj = this.object(value, path, ['soft_limit', 'hard_limit', 'max_session_threshold', 'dangerous_hard_limit_eviction']);
    if (!obj) return undefined;
    const soft = this.positive(obj.soft_limit, join(path, 'soft_limit'));
    const hard = this.positive(obj.hard_limit, join(path, 'hard_limit'));
    const threshold = this.positive(obj.max_session_threshold, join(path, 'max_session_threshold'));
    const eviction = this.boolean(obj.dangerous_hard_limit_eviction, join(path, 'dangerous_hard_limit_eviction'));
    if (obj.soft_limit == null) this.problem(join(path, 'soft_limit'), 'is required');
    if (obj.hard_limit == null) this.problem(join(path, 'hard_limit'), 'is required');
    if (soft === undefined || hard === undefined) return undefined;
    if (hard < soft) return this.problem(join(path, 'hard_limit'), 'must be at least soft_limit (the limit users are shown)');
    if (eviction && hard < 2) return this.problem(join(path, 'hard_limit'), 'must be at least 2 with dangerous_hard_limit_eviction');
    return { soft_limit: soft, hard_limit: hard, ...(threshold === undefined ? {} : { max_session_threshold: threshold }), dangerous_hard_limit_eviction: eviction };
  }
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** The keys of `policy.data` (and of the admin API's data), each with what reads it. */
export const POLICY_DATA_KEYS = [
  'admin_users',
  'admin_clients',
  'client_registration',
  'registration',
  'emails',
  'allowed_domains',
  'banned_domains',
  'requester',
  'session_limit',
] as const;

/** Reads the merged data; problems name the path of each unusable value. */
export function readPolicyData(merged: PolicyDataObject): { data: PolicyData; problems: [] } | { data?: undefined; problems: PolicyDataProblem[] } {
  const r = new Reader();
  const { server_name: name, ...rest } = merged;
  const top = r.object(rest, '', POLICY_DATA_KEYS) ?? {};
  const serverName = typeof name === 'string' ? name : (r.problem('server_name', 'must be a string') ?? '');
  const clients = r.object(top.client_registration, 'client_registration', ['allow_host_mismatch', 'allow_insecure_uris', 'allow_missing_client_uri']) ?? {};
  const registration = r.object(top.registration, 'registration', ['allowed_usernames', 'banned_usernames']) ?? {};
  const emails = r.object(top.emails, 'emails', ['allowed_addresses', 'banned_addresses']) ?? {};
  const requester = r.object(top.requester, 'requester', ['banned_ips', 'banned_user_agents']) ?? {};
  const data = {
    server_name: serverName,
    admin_users: r.strings(top.admin_users, 'admin_users') ?? [],
    admin_clients: r.strings(top.admin_clients, 'admin_clients') ?? [],
    client_registration: {
      allow_host_mismatch: r.boolean(clients.allow_host_mismatch, 'client_registration.allow_host_mismatch'),
      allow_insecure_uris: r.boolean(clients.allow_insecure_uris, 'client_registration.allow_insecure_uris'),
      allow_missing_client_uri: r.boolean(clients.allow_missing_client_uri, 'client_registration.allow_missing_client_uri'),
    },
    registration: {
      allowed_usernames: r.matcher(registration.allowed_usernames, 'registration.allowed_usernames'),
      banned_usernames: r.matcher(registration.banned_usernames, 'registration.banned_usernames'),
    },
    emails: {
      allowed_addresses: r.matcher(emails.allowed_addresses, 'emails.allowed_addresses'),
      banned_addresses: r.matcher(emails.banned_addresses, 'emails.banned_addresses'),
    },
    allowed_domains: r.strings(top.allowed_domains, 'allowed_domains'),
    banned_domains: r.strings(top.banned_domains, 'banned_domains') ?? [],
    requester: {
      banned_ips: r.ips(requester.banned_ips, 'requester.banned_ips'),
      banned_user_agents: r.matcher(requester.banned_user_agents, 'requester.banned_user_agents'),
    },
    session_limit: r.sessionLimit(top.session_limit, 'session_limit'),
  };
  if (r.problems.length) return { problems: r.problems };
  return { data: data as Omit<PolicyData, typeof VALIDATED> as PolicyData, problems: [] };
}

/**
 * The data in force for `layers` (the configuration's `policy.data`, then the admin API's data)
 * over Mauth's base. Problems instead when a layer does not merge or a value is unusable.
 */
export function buildPolicyData(base: PolicyDataBase, layers: readonly PolicyDataObject[]): { data: PolicyData; problems: [] } | { data?: undefined; problems: PolicyDataProblem[] } {
  for (const layer of layers) {
    if (layer.server_name !== undefined) return { problems: [{ path: 'server_name', message: 'is set by matrix.homeserver, not in the policy data' }] };
  }
  let merged: PolicyDataObject = { server_name: base.server_name, ...(base.session_limit ? { session_limit: base.session_limit } : {}) };
  try {
    for (const layer of layers) merged = mergePolicyData(merged, layer);
  } catch (err) {
    if (err instanceof PolicyDataMergeError) return { problems: [{ path: '', message: err.message }] };
    throw err;
  }
  return readPolicyData(merged);
}

/** `policy.data.registration.banned_usernames: must be …` */
export function describeProblems(problems: readonly PolicyDataProblem[], prefix = ''): string {
  return problems.map((p) => `${[prefix, p.path].filter(Boolean).join('.') || 'the data'}: ${p.message}`).join('; ');
}

export function matchesString(value: string, matcher: StringMatcher | undefined): boolean {
  if (!matcher) return false;
  return (
    matcher.literals.includes(value) ||
    matcher.substrings.some((s) => value.includes(s)) ||
    matcher.prefixes.some((s) => value.startsWith(s)) ||
    matcher.suffixes.some((s) => value.endsWith(s)) ||
    matcher.regexes.some((r) => r.test(value))
  );
}
