// The decisions of a sign-in through an upstream provider, as pure functions over facts the caller
// looked up: who the browser becomes (decideLinkStep), what a registration may take from the
// imported claims and what `on_conflict` does when a forced username is taken (decideRegistration,
// decideExistingLink), when the account can be created (planAccountEmail) and what a linked user's
// forced claims change at each sign-in (planResync). The pages (views/upstream/) do the reading
// and writing, and turn each result into a page, a redirect or an error.
import type { ImportAction } from '../config/types.js';
import type { PendingRegistration } from '../storage/upstream.js';
import type { ImportedAttribute } from './claims.js';

export type OnConflict = 'fail' | 'add' | 'replace' | 'set';

/** Who the browser becomes, from the link of the upstream subject and the signed-in user (if any). */
export type LinkStep =
  /** The subject is linked: sign in (reusing the browser's session when it is already that user). */
  | { kind: 'sign-in'; userId: string; browserSession: 'current' | 'new' }
  /** The subject is linked to another account than the one signed in. */
  | { kind: 'mismatch'; linkedUserId: string; currentUserId: string }
  /** Not linked, someone is signed in: offer to link their account. */
  | { kind: 'offer-link'; currentUserId: string }
  /** Not linked, nobody signed in: registration. */
  | { kind: 'register' };

export function decideLinkStep(facts: { linkedUserId?: string; currentUserId?: string }): LinkStep {
  const { linkedUserId, currentUserId } = facts;
  if (linkedUserId !== undefined) {
    if (currentUserId === undefined) return { kind: 'sign-in', userId: linkedUserId, browserSession: 'new' };
    if (currentUserId === linkedUserId) return { kind: 'sign-in', userId: linkedUserId, browserSession: 'current' };
    return { kind: 'mismatch', linkedUserId, currentUserId };
  }
  return currentUserId === undefined ? { kind: 'register' } : { kind: 'offer-link', currentUserId };
}

/** The imports a registration page shows: forced ones fixed, suggested ones to accept or change. */
export interface Suggestions {
  localpart: ImportedAttribute;
  displayname: ImportedAttribute;
  email: ImportedAttribute;
}

export interface RegistrationFacts extends Suggestions {
  /** `localpart.value` is as the provider gave it, in any case. */
  onConflict: OnConflict;
  skipConfirmation: boolean;
  /** The account whose username is the imported localpart lower-cased, if there is one. */
  existing?: { id: string; username: string };
  /** Why the registration policy refuses the lower-cased localpart, if it does. */
  policyProblem?: string;
  /** The homeserver's answer for the localpart, once asked (see `ask-homeserver`). */
  homeserverAvailable?: boolean;
}

export type RegistrationDecision =
  | { kind: 'register'; suggestions: Suggestions }
  /** A forced localpart names an existing account that `on_conflict` lets this subject link to. */
  | { kind: 'link'; userId: string; onConflict: Exclude<OnConflict, 'fail'> }
  /**
   * A forced localpart names an existing account that this subject may not link to: `on_conflict`
   * is `fail` (`not-linked`), or the provider's name differs from the account's in case.
   */
  | { kind: 'conflict'; reason: 'not-linked' | 'case-differs'; userId: string; username: string }
  /** Ask the homeserver whether `localpart` is free, then decide again with its answer. */
  | { kind: 'ask-homeserver'; localpart: string }
  /** A forced localpart that cannot be registered; `problem` says why when the policy said so. */
  | { kind: 'unavailable'; localpart: string; problem?: string }
  /** skip_confirmation, but no usable localpart to register without asking. */
  | { kind: 'missing-localpart' };

/**
 * What a registration makes of the imported localpart. A suggested name that is taken or refused
 * is dropped (the user chooses one); a forced one that is taken by an existing account is linked
 * or refused by `on_conflict`, and one that is otherwise unusable stops the sign-in.
 */
export function decideRegistration(facts: RegistrationFacts): RegistrationDecision {
  const { localpart, existing } = facts;
  let offered: ImportedAttribute = localpart;
  if (localpart.value !== undefined) {
    const given = localpart.value;
    const name = given.toLowerCase();
    if (existing && localpart.forced) {
      // Linking to an existing account on a name match only when the provider gave exactly that
      // name: `Admin` must not become a way into `admin`.
      if (given !== existing.username && facts.onConflict !== 'fail') return { kind: 'conflict', reason: 'case-differs', userId: existing.id, username: existing.username };
      if (facts.onConflict === 'fail') return { kind: 'conflict', reason: 'not-linked', userId: existing.id, username: existing.username };
      return { kind: 'link', userId: existing.id, onConflict: facts.onConflict };
    }
    const problem = existing ? 'it is taken' : facts.policyProblem;
    if (!problem && facts.homeserverAvailable === undefined) return { kind: 'ask-homeserver', localpart: name };
    const available = !problem && facts.homeserverAvailable === true;
    if (!available && localpart.forced) return { kind: 'unavailable', localpart: name, problem };
    offered = { ...localpart, value: available ? name : undefined };
  }
  if (facts.skipConfirmation && offered.value === undefined) return { kind: 'missing-localpart' };
  return { kind: 'register', suggestions: { localpart: offered, displayname: facts.displayname, email: facts.email } };
}

export type ExistingLink = { kind: 'link'; replaceLinks: boolean } | { kind: 'conflict'; reason: 'already-linked' };

/**
 * Linking a subject to the existing account its forced localpart names, by `on_conflict`: `add`
 * links beside the account's other links to this provider, `replace` removes those first, `set`
 * links only an account that has none.
 */
export function decideExistingLink(onConflict: Exclude<OnConflict, 'fail'>, linksOfAccountToProvider: number): ExistingLink {
  if (onConflict === 'set' && linksOfAccountToProvider > 0) return { kind: 'conflict', reason: 'already-linked' };
  return { kind: 'link', replaceLinks: onConflict === 'replace' };
}

/** The answers a registration form gives (`body`), forced imports taking precedence. */
export function registrationChoice(suggestions: Suggestions, body: Record<string, unknown>): PendingRegistration {
  const field = (name: string) => (typeof body[name] === 'string' ? (body[name] as string).trim() : '');
  const take = (a: ImportedAttribute, checkbox: string) => (a.value !== undefined && (a.forced || field(checkbox) === 'on') ? a.value : undefined);
  const { localpart } = suggestions;
  const username = (localpart.forced && localpart.value !== undefined ? localpart.value : field('username')).toLowerCase();
  return { localpart: username, displayName: take(suggestions.displayname, 'import_display_name'), email: take(suggestions.email, 'import_email') };
}

export type AccountEmailPlan =
  /** The address is not known to be the user's and e-mail is required: prove it with a mailed code first. */
  | { kind: 'verify-email'; email: string }
  /** Create the account now; `importedEmail` is what the link remembers as the provider's (forced imports only). */
  | { kind: 'create'; email?: { address: string; verified: boolean }; importedEmail?: string };

export function planAccountEmail(facts: { email?: string; verified: boolean; emailRequired: boolean; emailAction: ImportAction }): AccountEmailPlan {
  const { email } = facts;
  if (email === undefined) return { kind: 'create' };
  if (!facts.verified && facts.emailRequired) return { kind: 'verify-email', email };
  const forced = facts.emailAction === 'force' || facts.emailAction === 'require';
  return { kind: 'create', email: { address: email, verified: facts.verified }, ...(forced ? { importedEmail: email } : {}) };
}

export interface ResyncFacts {
  displayname: ImportedAttribute;
  email: ImportedAttribute;
  /** Whether `email.value` counts as verified. */
  emailVerified: boolean;
  accountName?: string;
  user: { displayName: string | null };
  /** The address this link imported before (forced imports only). */
  link: { importedEmail: string | null };
}

export interface ResyncPlan {
  /** Set the user's display name to this. */
  displayName?: string;
  /** Replace the address the link imported before (`remove`) with the provider's current one. */
  email?: { remove?: string; add: string; verified: boolean };
  /** What the link records; a null keeps what it has. */
  link: { humanAccountName: string | null; importedEmail: string | null };
  /** Something the homeserver shows changed: queue provision_user. */
  provision: boolean;
}

/**
 * Beyond MAS: a linked user's `force`d (or `require`d) display name and e-mail follow the provider
 * at every sign-in; suggested ones were the user's choice once and stay as the user left them.
 */
export function planResync(facts: ResyncFacts): ResyncPlan {
  const { displayname, email } = facts;
  const plan: ResyncPlan = {
    link: { humanAccountName: facts.accountName ?? null, importedEmail: email.forced ? (email.value ?? null) : null },
    provision: false,
  };
  if (displayname.forced && displayname.value !== undefined && displayname.value !== facts.user.displayName) {
    plan.displayName = displayname.value;
    plan.provision = true;
  }
  const before = facts.link.importedEmail;
  if (email.forced && email.value !== undefined && email.value.toLowerCase() !== before?.toLowerCase()) {
    plan.email = { ...(before ? { remove: before } : {}), add: email.value, verified: facts.emailVerified };
    plan.provision = true;
  }
  return plan;
}
