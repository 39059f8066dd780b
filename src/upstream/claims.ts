// claims_imports templates: Jinja syntax rendered with nunjucks over what the upstream provider
// said about the user, with MAS's extra filters. Pure: no I/O, so the rules are tested alone.
//
// The context, as in MAS: `user` (userinfo claims with the ID token's claims merged over them),
// `id_token_claims`, `userinfo_claims` and `extra_callback_parameters` (what the provider added
// to the callback, e.g. Sign in with Apple's `user`).
import nunjucks from 'nunjucks';
import type { ClaimsImports, ImportAction } from '../config/types.js';

export const DEFAULT_TEMPLATES = {
  subject: '{{ user.sub }}',
  localpart: '{{ user.preferred_username }}',
  displayname: '{{ user.name }}',
  email: '{{ user.email }}',
} as const;

/** Raw bytes in a template (from `b64decode`); they print as UTF-8 text, as in MAS. */
export class Bytes {
  constructor(readonly bytes: Buffer) {}
  toString(): string {
    return this.bytes.toString('utf8');
  }
  get length(): number {
    return this.bytes.length;
  }
}

function toBytes(value: unknown): Buffer {
  if (value instanceof Bytes) return value.bytes;
  if (Buffer.isBuffer(value)) return value;
  return Buffer.from(String(value ?? ''), 'utf8');
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

function b64decode(value: unknown): Bytes {
  const text = String(value ?? '').trim();
  // Node's decoder skips characters it does not know; refuse them instead, as MAS does.
  if ((!BASE64.test(text) && !BASE64URL.test(text)) || text.replace(/=+$/, '').length % 4 === 1) {
    throw new Error('b64decode: not a base64 string');
  }
  return new Bytes(Buffer.from(text, BASE64.test(text) ? 'base64' : 'base64url'));
}

function b64encode(value: unknown): string {
  return toBytes(value).toString('base64');
}

/** Tag-length-value bytes (one-byte tags and lengths) to a map from tag to value bytes. */
function tlvdecode(value: unknown): Record<number, Bytes> {
  const bytes = toBytes(value);
  const out: Record<number, Bytes> = {};
  let i = 0;
  while (i < bytes.length) {
    const tag = bytes[i];
    const length = bytes[i + 1];
    if (length === undefined || i + 2 + length > bytes.length) throw new Error('tlvdecode: invalid TLV encoding');
    out[tag] = new Bytes(bytes.subarray(i + 2, i + 2 + length));
    i += 2 + length;
  }
  return out;
}

function string(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (value instanceof Bytes || typeof value !== 'object') return String(value);
  return JSON.stringify(value);
}

function fromJson(value: unknown): unknown {
  try {
    return JSON.parse(String(value));
  } catch {
    throw new Error('from_json: not valid JSON');
  }
}

/** Jinja's `split`: on whitespace runs without a separator. */
function split(value: unknown, separator?: string, maxSplits?: number): string[] {
  const text = String(value ?? '');
  const parts = separator === undefined || separator === null ? text.trim().split(/\s+/).filter(Boolean) : text.split(separator);
  if (maxSplits === undefined || maxSplits < 0 || parts.length <= maxSplits + 1) return parts;
  const joiner = separator ?? ' ';
  return [...parts.slice(0, maxSplits), parts.slice(maxSplits).join(joiner)];
}

/**
 * nunjucks is not a sandbox: `{{ "".constructor.constructor("…")() }}` would run code. Claims
 * templates come from the operator's config, and must still not reach past the data they are
 * given, so member lookups of the names that lead to constructors and prototypes yield nothing.
 * (This patches nunjucks' runtime for every environment, which no page template needs.)
 */
const BLOCKED_MEMBERS = new Set([
  'constructor', '__proto__', 'prototype', '__defineGetter__', '__defineSetter__',
  '__lookupGetter__', '__lookupSetter__', 'caller', 'callee', 'arguments', 'apply', 'call', 'bind',
]);
const runtime = (nunjucks as unknown as { runtime: { memberLookup: (obj: unknown, key: unknown) => unknown } }).runtime;
const unguardedLookup = runtime.memberLookup;
runtime.memberLookup = (obj: unknown, key: unknown) => (BLOCKED_MEMBERS.has(String(key)) ? undefined : unguardedLookup(obj, key));

function createEnvironment(): nunjucks.Environment {
  // Values are not HTML: no escaping (MAS renders these templates unescaped too).
  const env = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: false });
  env.addFilter('b64decode', b64decode);
  env.addFilter('b64encode', b64encode);
  env.addFilter('tlvdecode', tlvdecode);
  env.addFilter('string', string);
  env.addFilter('from_json', fromJson);
  env.addFilter('split', split);
  return env;
}

const environment = createEnvironment();

/** A syntax problem in a template, for `config check`; undefined when it compiles. */
export function templateSyntaxError(source: string): string | undefined {
  try {
    new nunjucks.Template(source, environment, 'claims template', true);
    return undefined;
  } catch (err) {
    return cleanMessage(err);
  }
}

function cleanMessage(err: unknown): string {
  let message = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
  // nunjucks wraps the cause in "(unknown path) [Line 1, Column 4] Error: …"; keep the cause and where.
  let where = '';
  for (;;) {
    const position = /^\[Line (\d+), Column (\d+)\]\s*/.exec(message);
    if (position) {
      where = ` (line ${position[1]}, column ${position[2]})`;
      message = message.slice(position[0].length);
      continue;
    }
    const prefix = /^(\(unknown path\)|\(claims template\)|Template render error:|Error:)\s*/.exec(message);
    if (!prefix) break;
    message = message.slice(prefix[0].length);
  }
  return `${message}${where}`;
}

export interface ClaimsContext {
  user?: Record<string, unknown>;
  id_token_claims?: Record<string, unknown>;
  userinfo_claims?: Record<string, unknown>;
  extra_callback_parameters?: Record<string, unknown>;
}

export function claimsContext(input: {
  idTokenClaims?: Record<string, unknown> | null;
  userinfoClaims?: Record<string, unknown> | null;
  extraCallbackParameters?: Record<string, unknown> | null;
}): ClaimsContext {
  const context: ClaimsContext = {};
  const idToken = input.idTokenClaims ?? undefined;
  const userinfo = input.userinfoClaims ?? undefined;
  if (idToken || userinfo) context.user = { ...(userinfo ?? {}), ...(idToken ?? {}) };
  if (idToken) context.id_token_claims = idToken;
  if (userinfo) context.userinfo_claims = userinfo;
  if (input.extraCallbackParameters) context.extra_callback_parameters = input.extraCallbackParameters;
  return context;
}

export class TemplateError extends Error {
  constructor(
    readonly attribute: string,
    readonly template: string,
    readonly reason: string,
  ) {
    super(`claims_imports.${attribute}: ${reason} (template ${JSON.stringify(template)})`);
  }
}

export type Rendered = { ok: true; value: string | undefined } | { ok: false; error: TemplateError };

/** Renders one template; an empty result is `undefined`. */
export function renderTemplate(attribute: string, template: string, context: ClaimsContext): Rendered {
  try {
    const value = environment.renderString(template, context as object).trim();
    return { ok: true, value: value === '' ? undefined : value };
  } catch (err) {
    return { ok: false, error: new TemplateError(attribute, template, cleanMessage(err)) };
  }
}

/** What a claims_imports attribute yields: a value, whether the user may change or skip it. */
export interface ImportedAttribute {
  value?: string;
  action: ImportAction;
  /** `force` or `require`: imported without asking. */
  forced: boolean;
}

export interface ImportProblem {
  /** For the log: names the attribute and the template. */
  operatorMessage: string;
  /** For the page. */
  userMessage: string;
}

/**
 * Renders an attribute by its action: `ignore` renders nothing; a failing or empty template is an
 * error for `require` and nothing otherwise (logged by the caller through `warning`).
 */
export function importAttribute(
  attribute: 'localpart' | 'displayname' | 'email',
  preference: { action: ImportAction; template?: string },
  context: ClaimsContext,
): { attribute: ImportedAttribute; problem?: ImportProblem; warning?: string } {
  const action = preference.action;
  const forced = action === 'force' || action === 'require';
  if (action === 'ignore') return { attribute: { action, forced } };
  const template = preference.template ?? DEFAULT_TEMPLATES[attribute];
  const rendered = renderTemplate(attribute, template, context);
  if (!rendered.ok) {
    if (action === 'require') {
      return {
        attribute: { action, forced },
        problem: { operatorMessage: rendered.error.message, userMessage: `The identity provider did not send a usable ${label(attribute)}.` },
      };
    }
    return { attribute: { action, forced }, warning: rendered.error.message };
  }
  if (rendered.value === undefined && action === 'require') {
    return {
      attribute: { action, forced },
      problem: {
        operatorMessage: `claims_imports.${attribute}: template ${JSON.stringify(template)} rendered an empty value, and the attribute is required`,
        userMessage: `The identity provider did not send your ${label(attribute)}, which this server requires.`,
      },
    };
  }
  return { attribute: { value: rendered.value, action, forced } };
}

function label(attribute: string): string {
  return attribute === 'localpart' ? 'username' : attribute === 'displayname' ? 'display name' : 'e-mail address';
}

/** The subject that identifies the upstream account (default `{{ user.sub }}`). */
export function renderSubject(imports: ClaimsImports | undefined, context: ClaimsContext): Rendered {
  const rendered = renderTemplate('subject', imports?.subject.template ?? DEFAULT_TEMPLATES.subject, context);
  if (rendered.ok && rendered.value === undefined) {
    return { ok: false, error: new TemplateError('subject', imports?.subject.template ?? DEFAULT_TEMPLATES.subject, 'rendered an empty subject') };
  }
  return rendered;
}

/**
 * Whether an imported address counts as verified: `set_email_verification` `always`/`never`, or
 * (`import`, the default) the provider's `email_verified` claim.
 */
export function emailVerified(imports: ClaimsImports | undefined, context: ClaimsContext): boolean {
  const mode = imports?.email.set_email_verification ?? 'import';
  if (mode === 'always') return true;
  if (mode === 'never') return false;
  const claim = context.user?.email_verified;
  return claim === true || claim === 'true';
}
