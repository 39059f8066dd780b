// What claims_imports makes of an upstream provider's claims: each attribute rendered by its
// action (ignore, suggest, force, require), the subject, and whether an imported address counts as
// verified. The templates themselves are rendered by domain/claims-template.
import type { ClaimsImports, ImportAction } from '../config/types.js';
import { DEFAULT_TEMPLATES, TemplateError, renderTemplate, type ClaimsContext, type Rendered } from '../domain/claims-template/index.js';
import { parseEmailAddress } from '../domain/email-address.js';

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
  /** What the page says, in words it translates: a value that cannot be used, or none at all. */
  kind: 'unusable' | 'missing';
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
        problem: { operatorMessage: rendered.error.message, userMessage: `The identity provider did not send a usable ${label(attribute)}.`, kind: 'unusable' },
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
        kind: 'missing',
      },
    };
  }
  return { attribute: { value: rendered.value, action, forced } };
}

/**
 * An imported attribute with its e-mail address in canonical form. A provider value that is not
 * exactly one address (a list, a display name) is dropped with a warning, or is a problem when
 * the address is required: it must never be stored, mailed or sent to the homeserver.
 */
export function checkImportedEmail<T extends { attribute: ImportedAttribute; problem?: ImportProblem; warning?: string }>(name: string, outcome: T): T {
  const value = outcome.attribute.value;
  if (name !== 'email' || value === undefined) return outcome;
  const parsed = parseEmailAddress(value.trim());
  if (parsed.ok) return { ...outcome, attribute: { ...outcome.attribute, value: parsed.value.address } };
  const attribute = { ...outcome.attribute, value: undefined };
  const operatorMessage = `claims_imports.email: the provider's value is not one e-mail address (${parsed.problem})`;
  if (outcome.attribute.action !== 'require') return { ...outcome, attribute, warning: operatorMessage };
  return { ...outcome, attribute, problem: { operatorMessage, userMessage: 'The identity provider did not send a usable e-mail address.', kind: 'unusable' } };
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
