// What claims_imports makes of an upstream provider's claims: each attribute rendered by its
// action (ignore, suggest, force, require), the subject, and whether an imported address counts as
// verified. The templates themselves are rendered by domain/claims-template.
import type { ClaimsImports, ImportAction } from '../config/types.js';
import { DEFAULT_TEMPLATES, TemplateError, renderTemplate, type ClaimsContext, type Rendered } from '../domain/claims-template/index.js';

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
