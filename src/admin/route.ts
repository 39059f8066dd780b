// One admin API route = one declaration: method, path, the schemas of its path parameters, query
// and body, its documented responses, and the handler. The router validates every input against
// these schemas before the handler runs (a mismatch is a 400 with MAS's error shape), and the
// OpenAPI document is made from the same declarations.
import { Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { AppContext } from '../context.js';
import type { PasswordHasher } from '../accounts/passwords.js';
import type { OidcProvider } from '../oidc/provider.js';
import type { Caller } from './auth.js';
import { AdminError } from './errors.js';

/** What the admin routes are given by the HTTP assembly. */
export interface AdminDeps {
  app: AppContext;
  provider: OidcProvider;
  hasher: PasswordHasher;
}

export interface CallContext {
  deps: AdminDeps;
  app: AppContext;
  caller: Caller;
  /** The query string as received (list routes carry their filters into the page links). */
  search: URLSearchParams;
}

export interface Reply {
  status: number;
  body?: unknown;
}

export interface ResponseDoc {
  description: string;
  schema?: TSchema;
}

type Method = 'get' | 'post' | 'put' | 'delete';

interface Declaration<P extends TSchema, Q extends TSchema, B extends TSchema> {
  method: Method;
  /** Below /api/admin/v1, OpenAPI style: `/users/{id}`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  params?: P;
  query?: Q;
  body?: B;
  /** Whether a request without a body is refused (default: a body is required when one is declared). */
  bodyRequired?: boolean;
  responses: Record<number, ResponseDoc>;
  handler(ctx: CallContext, input: { params: Static<P>; query: Static<Q>; body: Static<B> }): Promise<Reply>;
}

export interface AdminRoute extends Omit<Declaration<TSchema, TSchema, TSchema>, 'handler'> {
  handler(ctx: CallContext, input: { params: unknown; query: unknown; body: unknown }): Promise<Reply>;
  checks: { params?: TypeCheck<TSchema>; query?: TypeCheck<TSchema>; body?: TypeCheck<TSchema> };
}

const EMPTY = Type.Object({});

export function defineRoute<P extends TSchema = TObject<{}>, Q extends TSchema = TObject<{}>, B extends TSchema = TObject<{}>>(
  declaration: Declaration<P, Q, B>,
): AdminRoute {
  const compile = (schema: TSchema | undefined) => (schema ? TypeCompiler.Compile(schema) : undefined);
  return {
    ...(declaration as unknown as Omit<AdminRoute, 'checks'>),
    checks: { params: compile(declaration.params ?? EMPTY), query: compile(declaration.query ?? EMPTY), body: compile(declaration.body) },
  };
}

/** The first problem TypeBox reports, in words an operator can act on. */
function describe(check: TypeCheck<TSchema>, value: unknown, where: string): string {
  const first = check.Errors(value).First();
  if (!first) return `Invalid ${where}`;
  const name = first.path.replace(/^\//, '').replaceAll('~1', '/').replaceAll('~0', '~');
  return name ? `Invalid ${where} ${JSON.stringify(name)}: ${first.message}` : `Invalid ${where}: ${first.message}`;
}

export function validated(check: TypeCheck<TSchema>, value: unknown, where: string): unknown {
  if (!check.Check(value)) throw new AdminError(400, describe(check, value, where));
  return value;
}

function typeOf(schema: TSchema | undefined): string | undefined {
  return typeof schema?.type === 'string' ? schema.type : undefined;
}

/**
 * The query string read for a schema: only the parameters it names (others are ignored, as MAS
 * does), booleans and integers converted from their text. A text that does not convert stays
 * text, and fails validation.
 */
export function readQuery(schema: TSchema | undefined, search: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const properties = (schema?.properties ?? {}) as Record<string, TSchema>;
  for (const [name, property] of Object.entries(properties)) {
    const values = search.getAll(name);
    if (values.length === 0) continue;
    if (typeOf(property) === 'array') {
      out[name] = values;
      continue;
    }
    if (values.length > 1) throw new AdminError(400, `Invalid query parameter ${JSON.stringify(name)}: given more than once`);
    const [value] = values;
    if (typeOf(property) === 'boolean') out[name] = value === 'true' ? true : value === 'false' ? false : value;
    else if (typeOf(property) === 'integer') out[name] = /^-?\d{1,15}$/.test(value) ? Number(value) : value;
    else out[name] = value;
  }
  return out;
}
