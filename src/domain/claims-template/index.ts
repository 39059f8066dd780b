// claims_imports templates: Jinja syntax rendered in a sandbox (sandbox.ts) over what the upstream
// provider said about the user, with MAS's extra filters. Pure: no I/O and no project imports, so
// configuration can check templates at load and the upstream flow can render them, both from here.
//
// The context, as in MAS: `user` (userinfo claims with the ID token's claims merged over them),
// `id_token_claims`, `userinfo_claims` and `extra_callback_parameters` (what the provider added
// to the callback, e.g. Sign in with Apple's `user`).
import { CLAIMS_TEMPLATE_DEFINITIONS } from './filters.js';
import { TemplateFailure, TemplateSandbox } from './sandbox.js';

export { Bytes } from './values.js';

export const DEFAULT_TEMPLATES = {
  subject: '{{ user.sub }}',
  localpart: '{{ user.preferred_username }}',
  displayname: '{{ user.name }}',
  email: '{{ user.email }}',
} as const;

// Templates are the operator's config, but operators copy them from forums, and the claims they
// render are whatever the provider sent: the sandbox (sandbox.ts) keeps both to data.
const sandbox = new TemplateSandbox(CLAIMS_TEMPLATE_DEFINITIONS);

/** A problem with a template, for `config check`: syntax, or something claims templates may not use. */
export function templateSyntaxError(source: string): string | undefined {
  try {
    sandbox.compile(source);
    return undefined;
  } catch (err) {
    return err instanceof TemplateFailure ? err.message : String(err);
  }
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
  if (idToken || userinfo) context.user = { ...userinfo, ...idToken };
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

/** Renders one template; an empty result is `undefined`. Never throws. */
export function renderTemplate(attribute: string, template: string, context: ClaimsContext): Rendered {
  try {
    const value = sandbox.render(sandbox.compile(template), context as Record<string, unknown>).trim();
    return { ok: true, value: value === '' ? undefined : value };
  } catch (err) {
    const reason = err instanceof TemplateFailure ? err.message : 'the template could not be rendered';
    return { ok: false, error: new TemplateError(attribute, template, reason) };
  }
}
