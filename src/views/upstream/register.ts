// The upstream registration page: an upstream subject that is not linked, in a browser where no
// one is signed in, becomes a new account with the imported claims (forced ones as they are,
// suggested ones if the user keeps them). decideRegistration says what the imports allow; this
// page asks the homeserver when told to, shows the form, and creates the account.
import type { Request, Response } from 'express';
import { SubjectAlreadyLinkedError, createAccount } from '../../accounts/create-account.js';
import { RateLimited, limit } from '../../accounts/rate-limit.js';
import { evaluateRegistration } from '../../policy/register.js';
import { requesterOf, type Requester } from '../../policy/requester.js';
import { currentPolicyData } from '../../policy/dynamic-data.js';
import * as upstream from '../../storage/upstream.js';
import * as users from '../../storage/users.js';
import type { ImportedAttribute } from '../../upstream/claims.js';
import { decideRegistration, planAccountEmail, registrationChoice, type RegistrationDecision, type Suggestions } from '../../upstream/link.js';
import { displayName } from '../../upstream/providers.js';
import { csrfToken } from '../../web/browser.js';
import type { ViewDeps } from '../deps.js';
import { emailVerificationStep } from './email-verification.js';
import { RouteError } from '../../web/errors.js';
import { msg, type Message } from '../../web/i18n.js';
import { violationMessage } from '../form-messages.js';
import { homeserverUnavailable } from './errors.js';
import { claimsImports } from './provider.js';
import { accountName, consume, finish, importedAttribute, isEmailVerified, startBrowserSession, type LinkState } from './session.js';
import { linkExistingAccount } from './sign-in.js';

type Deps = Pick<ViewDeps, 'app' | 'renderer'>;

/**
 * Not a route error: the answer is the registration form again, filled in, with this message. It
 * never leaves this file (registerOrForm turns it into the form), so it stays local.
 */
class FormError extends Error {
  constructor(readonly text: Message) {
    super(text.key);
  }
}

/** The registration policy (`policy.data`), as for password registration, without its e-mail requirement. */
async function violations({ app }: Deps, requester: Requester, username: string, email?: string) {
  const input = { username, email, emailRequired: false, requester, serverName: app.config.matrix.homeserver };
  return evaluateRegistration(input, await currentPolicyData(app)).map((v) => ({ ...v, text: violationMessage(v, input) }));
}

/** Asks the homeserver whether a name is free; each question tells whether a name exists, so it is limited per IP first. */
async function homeserverAvailable(deps: Deps, req: Request, res: Response, localpart: string): Promise<boolean> {
  try {
    await limit(deps.app.sql, `username-availability:ip:${req.ip ?? 'unknown'}`, deps.app.config.rate_limiting.username_availability);
  } catch (err) {
    if (!(err instanceof RateLimited)) throw err;
    res.set('Retry-After', String(Math.ceil(err.retryAfterMs / 1000)));
    throw new RouteError(429, 'rate_limited', msg('errors.upstream.too_many_usernames'), { title: msg('errors.upstream.too_many_attempts_title') });
  }
  try {
    return (await deps.app.homeserver.isLocalpartAvailable(localpart)).available;
  } catch (err) {
    throw homeserverUnavailable(deps.app.log, err);
  }
}

/**
 * The imports a registration offers. Undefined when the page was answered already: a forced
 * localpart that names an existing account was linked to it (on_conflict add, replace or set).
 */
async function suggestions(deps: Deps, req: Request, res: Response, state: LinkState): Promise<Suggestions | undefined> {
  const { app } = deps;
  const imports = claimsImports(state.provider);
  const displayname = importedAttribute(app, state, 'displayname');
  const email = importedAttribute(app, state, 'email');
  const localpart = importedAttribute(app, state, 'localpart');
  const name = localpart.value?.toLowerCase();
  const existing = name === undefined ? undefined : await users.findByUsername(app.sql, name);
  const policyViolation = name === undefined || existing ? undefined : (await violations(deps, requesterOf(req), name)).find((v) => v.field === 'username');
  const facts = {
    localpart,
    displayname,
    email,
    onConflict: imports.localpart.on_conflict ?? 'fail',
    skipConfirmation: imports.skip_confirmation,
    existing,
    policyProblem: policyViolation?.msg.replace(/\.$/, ''),
  };
  let decision: RegistrationDecision = decideRegistration(facts);
  if (decision.kind === 'ask-homeserver') decision = decideRegistration({ ...facts, homeserverAvailable: await homeserverAvailable(deps, req, res, decision.localpart) });
  const logged = { upstream_provider_id: state.provider.id };
  switch (decision.kind) {
    case 'register':
      return decision.suggestions;
    case 'link':
      await linkExistingAccount(app, req, res, state, existing!, decision.onConflict);
      return undefined;
    case 'conflict':
      if (decision.reason === 'case-differs') {
        app.log.warn({ ...logged, user_id: decision.userId }, 'upstream localpart differs in case from the existing account; not linking');
        throw new RouteError(409, 'username_taken', msg('errors.upstream.username_other_account', { username: decision.username }), { title: msg('errors.upstream.username_taken_title') });
      }
      app.log.warn({ ...logged, user_id: decision.userId, on_conflict: 'fail' }, 'upstream localpart matches an existing account that is not linked; on_conflict is fail');
      throw new RouteError(409, 'username_taken', msg('errors.upstream.username_not_linked', { username: decision.username }), { title: msg('errors.upstream.username_taken_title') });
    case 'unavailable': {
      const { localpart: wanted, problem } = decision;
      app.log.warn({ ...logged, localpart: wanted, problem: problem ?? 'not available on the homeserver' }, 'forced localpart cannot be registered');
      const text = problem && policyViolation
        ? msg('errors.upstream.username_unavailable_because', { username: wanted, problem: policyViolation.text })
        : msg('errors.upstream.username_unavailable', { username: wanted });
      throw new RouteError(409, 'username_unavailable', text, { title: msg('errors.upstream.username_unavailable_title') });
    }
    case 'missing-localpart':
      throw new RouteError(400, 'required_claim_missing', msg('errors.upstream.no_username'), { title: msg('errors.upstream.failed_title') });
    case 'ask-homeserver':
      throw new Error('decideRegistration asked the homeserver twice');
  }
}

function renderForm(deps: Deps, req: Request, res: Response, state: LinkState, offered: Suggestions, status = 200, error?: Message, username?: string) {
  const value = (a: ImportedAttribute) => (a.action === 'ignore' || a.value === undefined ? undefined : { value: a.value, forced: a.forced });
  deps.renderer.send(res, status, 'upstream_register', {
    action: `/upstream/link/${state.session.id}`,
    csrf: csrfToken(deps.app.config, req, res),
    provider: { name: displayName(state.provider.config) },
    account_name: accountName(deps.app, state),
    localpart: { value: username ?? offered.localpart.value ?? '', forced: offered.localpart.forced && offered.localpart.value !== undefined },
    displayname: value(offered.displayname),
    email: offered.email.value === undefined ? undefined : { ...value(offered.email), verified: isEmailVerified(state, offered.email.value) },
    error,
  });
}

/** Creates the account with its link and e-mail in one transaction and signs it in, or first proves the address by mail. */
async function register(deps: Deps, req: Request, res: Response, state: LinkState, choice: upstream.PendingRegistration): Promise<void> {
  const { app } = deps;
  const refused = await violations(deps, requesterOf(req), choice.localpart, choice.email);
  if (refused.length) throw new FormError(refused[0]!.text);
  if (await users.findByUsername(app.sql, choice.localpart)) throw new FormError(msg('errors.upstream.username_taken'));
  if (!(await homeserverAvailable(deps, req, res, choice.localpart))) throw new FormError(msg('errors.upstream.username_not_available'));

  const plan = planAccountEmail({
    email: choice.email,
    verified: choice.email !== undefined && isEmailVerified(state, choice.email),
    emailRequired: app.config.account.password_registration_email_required,
    emailAction: claimsImports(state.provider).email.action,
  });
  if (plan.kind === 'verify-email') {
    await upstream.setPendingRegistration(app.sql, state.session.id, choice);
    await emailVerificationStep(deps, req, res, { upstreamSessionId: state.session.id, email: plan.email, continueUrl: `/upstream/link/${state.session.id}`, next: state.session.next_path });
    return;
  }

  let secret: string;
  try {
    secret = await app.sql.begin(async (tx) => {
      const { user, links } = await createAccount(tx, {
        username: choice.localpart,
        displayName: choice.displayName ?? null,
        emails: plan.email ? [plan.email] : [],
        upstreamLinks: [{ providerId: state.provider.id, subject: state.session.subject!, humanAccountName: accountName(app, state), importedEmail: plan.importedEmail }],
      });
      const started = await startBrowserSession(app, tx, req, user.id);
      await consume(app, tx, state, links[0]!.id, started.session.id);
      app.log.info({ upstream_provider_id: state.provider.id, user_id: user.id }, 'registered a user through an upstream provider');
      return started.secret;
    });
  } catch (err) {
    if (err instanceof users.UsernameTakenError) throw new FormError(msg('errors.upstream.username_taken'));
    if (err instanceof SubjectAlreadyLinkedError) {
      throw new RouteError(409, 'already_linked', msg('errors.upstream.linked_meanwhile'), { title: msg('errors.upstream.already_linked_title') });
    }
    throw err;
  }
  finish(app, res, state, secret);
}

async function registerOrForm(deps: Deps, req: Request, res: Response, state: LinkState, offered: Suggestions, choice: upstream.PendingRegistration) {
  try {
    await register(deps, req, res, state, choice);
  } catch (err) {
    if (err instanceof FormError) return renderForm(deps, req, res, state, offered, 400, err.text, choice.localpart);
    throw err;
  }
}

/** GET: back from the mailed-code step, finish with the earlier answers; with skip_confirmation, register at once; else the form. */
export async function showRegistration(deps: Deps, req: Request, res: Response, state: LinkState): Promise<void> {
  const offered = await suggestions(deps, req, res, state);
  if (!offered) return;
  const earlier = state.session.pending_registration;
  if (earlier?.email && state.session.verified_email?.toLowerCase() === earlier.email.toLowerCase()) return registerOrForm(deps, req, res, state, offered, earlier);
  if (claimsImports(state.provider).skip_confirmation) return registerOrForm(deps, req, res, state, offered, registrationChoice(offered, {}));
  renderForm(deps, req, res, state, offered);
}

/** POST with action=register: the form's answers. */
export async function submitRegistration(deps: Deps, req: Request, res: Response, state: LinkState, body: Record<string, unknown>): Promise<void> {
  const offered = await suggestions(deps, req, res, state);
  if (!offered) return;
  const choice = registrationChoice(offered, body);
  if (!choice.localpart) return renderForm(deps, req, res, state, offered, 400, msg('errors.upstream.choose_username'), '');
  await registerOrForm(deps, req, res, state, offered, choice);
}
