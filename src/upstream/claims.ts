// claims_imports templates: Jinja syntax rendered in a sandbox (template-sandbox.ts) over what the
// upstream provider said about the user, with MAS's extra filters. Pure: no I/O, so the rules are
// tested alone.
//
// The context, as in MAS: `user` (userinfo claims with the ID token's claims merged over them),
// `id_token_claims`, `userinfo_claims` and `extra_callback_parameters` (what the provider added
// to the callback, e.g. Sign in with Apple's `user`).
import type { ClaimsImports, ImportAction } from '../config/types.js';
import { CLAIMS_TEMPLATE_DEFINITIONS } from './claims-filters.js';
import { TemplateFailure, TemplateSandbox } from './template-sandbox.js';

export { Bytes } from './template-values.js';

export const DEFAULT_TEMPLATES = {
  subject: '{{ user.sub }}',
  localpart: '{{ user.preferred_username }}',
  displayname: '{{ user.name }}',
  email: '{{ user.email }}',
} as const;

// Templates are the operator's config, but operators copy them from forums, and the claims they
// render are whatever the provider sent: the sandbox (template-sandbox.ts) keeps both to data.
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
