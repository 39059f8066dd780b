// Signing in through an upstream provider: `/upstream/authorize/{id}` sends the browser there,
// `/upstream/callback/{id}` (GET, or POST for response_mode form_post) takes the answer, and
// `/upstream/link/{session}` decides: a linked subject signs its user in, a signed-in browser may
// link its account, anyone else registers with the imported claims. The browser then continues to
// the `next` path it came with (an authorization request's `/interaction/{uid}`, `/account/`, a
// legacy `/complete-compat-sso/{id}`). Back-channel logout lands on `/upstream/backchannel-logout/{id}`.
import { matrixUserId } from '../domain/usernames.js';
import { endAllOAuthSessionsOfUser } from '../oidc/sessions.js';
import { randomBytes } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import type { OidcProvider } from '../oidc/provider.js';
import type { AppContext } from '../context.js';
import type { ClaimsImports } from '../config/types.js';
import { hashSecret } from '../domain/tokens.js';
import { evaluateRegistration, type RegisterPolicyData } from '../policy/register.js';
import { SESSION_COOKIE, cookieOptions, csrfToken, csrfValid, currentSession, safeNext } from '../web/browser.js';
import { enqueueProvisionUser } from '../jobs/homeserver-jobs.js';
import { endCompatSessions } from '../compat/sessions.js';
import * as browserSessions from '../storage/browser-sessions.js';
import * as compat from '../storage/compat.js';
import type { Tx } from '../storage/db.js';
import * as upstream from '../storage/upstream.js';
import * as users from '../storage/users.js';
import { InvalidLogoutToken, validateLogoutToken } from '../upstream/backchannel.js';
import { claimsContext, renderTemplate, type ClaimsContext } from '../domain/claims-template/index.js';
import { emailVerified, importAttribute, renderSubject, type ImportedAttribute } from '../upstream/claims.js';
import { completeAuthorization, isUnavailable, providerFromRow, startAuthorization, type UpstreamClientProvider } from '../upstream/client.js';
import { checkImportedEmail, emailVerificationStep } from '../upstream/email-verification.js';
import { displayName } from '../upstream/providers.js';
import type { Renderer } from '../web/render.js';

interface Deps {
  app: AppContext;
  provider: OidcProvider;
  renderer: Renderer;
}

const COOKIE = 'mauth.upstream';
const COOKIE_PATH = '/upstream';
const MAX_PENDING = 5;

/** One authorization round trip this browser started; the secrets never leave the cookie. */
interface Pending {
  /** upstream session id */
  s: string;
  /** provider id */
  p: string;
  /** state */
  st: string;
  /** nonce */
  n?: string;
  /** PKCE code verifier */
  v?: string;
}

/** A step that cannot go on; `status` and the page say why. */
class StepError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** A registration answer that cannot be used; the form is shown again with the message. */
class FormError extends Error {}

function isPending(value: unknown): value is Pending {
  const v = value as Pending;
  return !!v && typeof v.s === 'string' && typeof v.p === 'string' && typeof v.st === 'string';
}

function imports(provider: UpstreamClientProvider): ClaimsImports {
  return provider.config.claims_imports as ClaimsImports;
}

export function upstreamRouter({ app, provider: oidcProvider, renderer }: Deps): Router {
  const { config, log } = app;
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '64kb' });
  const secure = new URL(config.http.public_base).protocol === 'https:';

  const page = renderer.send;
  const fail = (res: Response, err: StepError) => page(res, err.status, 'error', { title: err.title, message: err.message, code: err.code });
  const mxid = (username: string) => matrixUserId(username, config.matrix.homeserver);
  /** The registration policy (`policy.data`), as for password registration, without its e-mail requirement. */
  const violations = (username: string, email?: string) =>
    evaluateRegistration({ username, email, emailRequired: false, serverName: config.matrix.homeserver }, config.policy.data as RegisterPolicyData);

  // The state cookie: SameSite=None over HTTPS, so a form_post callback (a cross-site POST)
  // still carries it; the state it holds is what stops a forged callback.
  function readPending(req: Request): Pending[] {
    const raw = req.signedCookies?.[COOKIE];
    if (typeof raw !== 'string') return [];
    try {
      const parsed = JSON.parse(raw) as unknown;
      return Array.isArray(parsed) ? parsed.filter(isPending) : [];
    } catch {
      return [];
    }
  }
  function writePending(res: Response, list: Pending[]) {
    const options = { ...cookieOptions(config), path: COOKIE_PATH, sameSite: secure ? ('none' as const) : ('lax' as const), maxAge: upstream.SESSION_TTL_SECONDS * 1000 };
    if (list.length === 0) res.clearCookie(COOKIE, { ...options, signed: undefined, maxAge: undefined });
    else res.cookie(COOKIE, JSON.stringify(list.slice(-MAX_PENDING)), options);
  }

  async function loadProvider(id: string): Promise<UpstreamClientProvider> {
    const row = /^[0-9A-Za-z]{26}$/.test(id) ? await upstream.findProvider(app.sql, id.toUpperCase()) : undefined;
    if (!row || row.disabled_at) {
      throw new StepError(404, 'Unknown sign-in option', 'This sign-in option does not exist or is turned off.', 'unknown_provider');
    }
    try {
      return await providerFromRow(config, row);
    } catch (err) {
      log.error({ err, upstream_provider_id: row.id }, 'cannot decrypt the stored secrets of an upstream provider (did secrets.encryption change? run `mauth config sync`)');
      throw new StepError(500, 'Sign-in option unavailable', 'This sign-in option is misconfigured. Try again later or contact the administrator.', 'provider_misconfigured');
    }
  }

  /** An error of the provider round trip, logged for the operator, shown plainly to the user. */
  function upstreamFailure(err: unknown, providerId: string, stage: string): StepError {
    const e = err as { code?: string; error?: string; error_description?: string; message?: string };
    if (isUnavailable(err)) {
      log.warn({ upstream_provider_id: providerId, stage, error: e.message, code: e.code }, 'upstream provider unreachable');
      return new StepError(502, 'The identity provider is not reachable', 'The identity provider did not answer. Try again in a moment.', 'upstream_unavailable');
    }
    log.warn({ upstream_provider_id: providerId, stage, error: e.message, code: e.code, oauth_error: e.error, oauth_error_description: e.error_description }, 'upstream sign-in rejected');
    return new StepError(
      400,
      'Sign-in failed',
      'The answer from the identity provider could not be verified, so you were not signed in. Start signing in again.',
      'upstream_response_invalid',
    );
  }

  const handle =
    (fn: (req: Request, res: Response) => Promise<void>) =>
    (req: Request, res: Response, next: (err?: unknown) => void) =>
      fn(req, res).catch((err) => (err instanceof StepError ? fail(res, err) : next(err)));

  // 1. Start: state, nonce and PKCE verifier go into the signed cookie, the state's hash into the database.
  router.get(
    '/upstream/authorize/:id',
    handle(async (req, res) => {
      const provider = await loadProvider(String(req.params.id));
      const next = safeNext(req.query.next);
      let start;
      try {
        start = await startAuthorization(config, provider);
      } catch (err) {
        if (isUnavailable(err)) throw upstreamFailure(err, provider.id, 'authorize');
        log.error({ err, upstream_provider_id: provider.id }, 'cannot start an upstream authorization (check the provider configuration)');
        throw new StepError(500, 'Sign-in option unavailable', 'This sign-in option is misconfigured. Try again later or contact the administrator.', 'provider_misconfigured');
      }
      const session = await upstream.createSession(app.sql, { providerId: provider.id, stateHash: hashSecret(start.state), nextPath: next });
      const entry: Pending = { s: session.id, p: provider.id, st: start.state, ...(start.nonce ? { n: start.nonce } : {}), ...(start.codeVerifier ? { v: start.codeVerifier } : {}) };
      writePending(res, [...readPending(req), entry]);
      res.redirect(303, start.url.href);
    }),
  );

  // 2. Callback: one use per state; the code exchange validates the ID token.
  const callback = handle(async (req, res) => {
    const provider = await loadProvider(String(req.params.id));
    const params: Record<string, string> = {};
    const source = req.method === 'POST' ? (req.body as Record<string, unknown>) : (req.query as Record<string, unknown>);
    for (const [key, value] of Object.entries(source ?? {})) if (typeof value === 'string') params[key] = value;
    const pending = readPending(req);
    const entry = pending.find((e) => e.p === provider.id && typeof params.state === 'string' && e.st === params.state);
    if (!entry) {
      throw new StepError(
        400,
        'This sign-in cannot be completed',
        'The answer from the identity provider does not belong to a sign-in started in this browser, or it expired. Start signing in again.',
        'invalid_state',
      );
    }
    const session = await upstream.completeSession(app.sql, entry.s, hashSecret(entry.st));
    if (!session) {
      throw new StepError(400, 'This sign-in cannot be completed', 'This answer from the identity provider was already used, or it expired. Start signing in again.', 'upstream_session_used');
    }
    if (params.error) {
      log.info({ upstream_provider_id: provider.id, oauth_error: params.error, oauth_error_description: params.error_description }, 'upstream provider returned an error');
      writePending(res, pending.filter((e) => e !== entry));
      throw new StepError(
        400,
        'Sign-in cancelled',
        params.error === 'access_denied' ? 'The identity provider did not sign you in.' : `The identity provider did not sign you in (${params.error}).`,
        'upstream_error',
      );
    }
    let outcome;
    try {
      outcome = await completeAuthorization(config, provider, params, { state: entry.st, nonce: entry.n, codeVerifier: entry.v });
    } catch (err) {
      throw upstreamFailure(err, provider.id, 'callback');
    }
    const context = claimsContext({ idTokenClaims: outcome.idTokenClaims, userinfoClaims: outcome.userinfoClaims, extraCallbackParameters: outcome.extraCallbackParameters });
    const subject = renderSubject(imports(provider), context);
    if (!subject.ok) {
      log.error({ upstream_provider_id: provider.id, problem: subject.error.message }, 'claims_imports.subject cannot be rendered');
      throw new StepError(400, 'Sign-in failed', 'The identity provider did not tell who you are in a way this server understands. The administrator has been told.', 'subject_unavailable');
    }
    const sid = outcome.idTokenClaims?.sid;
    await upstream.recordCallback(app.sql, session.id, {
      subject: subject.value!,
      upstreamSid: typeof sid === 'string' ? sid : undefined,
      idTokenClaims: outcome.idTokenClaims,
      userinfoClaims: outcome.userinfoClaims,
      extraCallbackParameters: outcome.extraCallbackParameters,
    });
    // The nonce and verifier are spent; the entry now only proves this browser started the session.
    writePending(res, pending.map((e) => (e === entry ? { s: e.s, p: e.p, st: e.st } : e)));
    res.redirect(303, `/upstream/link/${session.id}`);
  });
  router.get('/upstream/callback/:id', callback);
  router.post('/upstream/callback/:id', form, callback);

  interface LinkState {
    session: upstream.SessionRow;
    provider: UpstreamClientProvider;
    context: ClaimsContext;
    pending: Pending[];
    entry: Pending;
  }

  async function linkState(req: Request): Promise<LinkState> {
    const id = String(req.params.session);
    const pending = readPending(req);
    const entry = pending.find((e) => e.s === id);
    const session = entry ? await upstream.findSession(app.sql, id) : undefined;
    if (!entry || !session || !session.completed_at || !session.subject) {
      throw new StepError(400, 'This sign-in cannot be completed', 'This sign-in was not started in this browser, or it expired. Start signing in again.', 'invalid_upstream_session');
    }
    if (session.consumed_at) {
      throw new StepError(400, 'This sign-in cannot be completed', 'This sign-in was already used. Start signing in again.', 'upstream_session_used');
    }
    const provider = await loadProvider(session.provider_id);
    const context = claimsContext({
      idTokenClaims: session.id_token_claims,
      userinfoClaims: session.userinfo_claims,
      extraCallbackParameters: session.extra_callback_parameters,
    });
    return { session, provider, context, pending, entry };
  }

  function accountName(state: LinkState): string | undefined {
    const template = imports(state.provider).account_name.template;
    if (!template) return undefined;
    const rendered = renderTemplate('account_name', template, state.context);
    if (!rendered.ok) log.warn({ upstream_provider_id: state.provider.id, problem: rendered.error.message }, 'claims_imports.account_name cannot be rendered');
    return rendered.ok ? rendered.value : undefined;
  }

  /** Renders an attribute, logging template problems; a required attribute that fails stops the step. */
  function attribute(state: LinkState, name: 'localpart' | 'displayname' | 'email'): ImportedAttribute {
    const outcome = checkImportedEmail(name, importAttribute(name, imports(state.provider)[name], state.context));
    if (outcome.warning) log.warn({ upstream_provider_id: state.provider.id, problem: outcome.warning }, 'claims template failed; attribute not imported');
    if (outcome.problem) {
      log.error({ upstream_provider_id: state.provider.id, problem: outcome.problem.operatorMessage }, 'required claim cannot be imported');
      throw new StepError(400, 'Sign-in failed', `${outcome.problem.userMessage} The administrator has been told.`, 'required_claim_missing');
    }
    return outcome.attribute;
  }

  function isEmailVerified(state: LinkState, email: string): boolean {
    return emailVerified(imports(state.provider), state.context) || state.session.verified_email?.toLowerCase() === email.toLowerCase();
  }

  /** Starts a browser session in `tx`; the cookie is set once the transaction committed. */
  async function newBrowserSession(tx: Tx, req: Request, userId: string) {
    const secret = randomBytes(32).toString('base64url');
    const session = await browserSessions.create(tx, { secret, userId, userAgent: req.get('user-agent')?.slice(0, 512), ipAddress: req.ip });
    return { session, secret };
  }

  async function consume(tx: Tx, state: LinkState, linkId: string, browserSessionId: string) {
    if (!(await upstream.consumeSession(tx, state.session.id, { linkId, browserSessionId }))) {
      throw new StepError(400, 'This sign-in cannot be completed', 'This sign-in was already used. Start signing in again.', 'upstream_session_used');
    }
  }

  function finish(res: Response, state: LinkState, browserSecret?: string) {
    if (browserSecret) res.cookie(SESSION_COOKIE, browserSecret, cookieOptions(config));
    writePending(res, state.pending.filter((e) => e !== state.entry));
    res.redirect(303, state.session.next_path);
  }

  /**
   * Beyond MAS: a linked user's `force`d display name and e-mail follow the provider on every
   * sign-in; the homeserver is told through a provision_user job when anything changed.
   */
  async function resyncForcedClaims(tx: Tx, state: LinkState, link: upstream.LinkRow, user: users.User): Promise<void> {
    const claims = imports(state.provider);
    let changed = false;
    const soft = (name: 'displayname' | 'email') => {
      const outcome = checkImportedEmail(name, importAttribute(name, claims[name], state.context));
      if (outcome.warning || outcome.problem) {
        log.warn({ upstream_provider_id: state.provider.id, problem: outcome.warning ?? outcome.problem?.operatorMessage }, 'claim not re-applied at sign-in');
      }
      return outcome.attribute;
    };
    const name = soft('displayname');
    if (name.forced && name.value !== undefined && name.value !== user.display_name) {
      await users.setDisplayName(tx, user.id, name.value);
      changed = true;
    }
    const email = soft('email');
    if (email.forced && email.value !== undefined && email.value.toLowerCase() !== link.imported_email?.toLowerCase()) {
      if (link.imported_email) await upstream.removeImportedEmail(tx, user.id, link.imported_email);
      await users.addEmail(tx, { userId: user.id, email: email.value, verified: isEmailVerified(state, email.value) });
      changed = true;
    }
    await upstream.updateLinkImports(tx, link.id, { humanAccountName: accountName(state) ?? null, importedEmail: email.forced ? (email.value ?? null) : null });
    if (changed) await enqueueProvisionUser(tx, user.id);
  }

  function requireActive(user: users.User | undefined): users.User {
    if (!user) throw new StepError(400, 'This sign-in cannot be completed', 'The linked account no longer exists.', 'user_not_found');
    if (user.deactivated_at) throw new StepError(403, 'Account deactivated', `The account ${mxid(user.username)} has been deactivated.`, 'user_deactivated');
    if (user.locked_at) throw new StepError(403, 'Account locked', `The account ${mxid(user.username)} is locked.`, 'user_locked');
    return user;
  }

  /** Signs `user` in through `link` (new browser session, or the current one). */
  async function signIn(req: Request, res: Response, state: LinkState, link: upstream.LinkRow, user: users.User, current?: { session: { id: string } }) {
    const secret = await app.sql.begin(async (tx) => {
      await resyncForcedClaims(tx, state, link, user);
      if (current) {
        await consume(tx, state, link.id, current.session.id);
        return undefined;
      }
      const started = await newBrowserSession(tx, req, user.id);
      await consume(tx, state, link.id, started.session.id);
      return started.secret;
    });
    finish(res, state, secret);
  }

  interface RegistrationView {
    localpart: ImportedAttribute;
    displayname: ImportedAttribute;
    email: ImportedAttribute;
  }

  /** The imports for a registration; a forced localpart that is taken is resolved by on_conflict. */
  async function registrationView(req: Request, res: Response, state: LinkState): Promise<RegistrationView | undefined> {
    const claims = imports(state.provider);
    const displayname = attribute(state, 'displayname');
    const email = attribute(state, 'email');
    const localpart = attribute(state, 'localpart');
    if (localpart.value !== undefined) {
      const given = localpart.value;
      localpart.value = given.toLowerCase();
      const existing = await users.findByUsername(app.sql, localpart.value);
      if (existing && localpart.forced) {
        // Linking to an existing account on a name match only when the provider gave exactly
        // that name: `Admin` must not become a way into `admin`.
        if (given !== existing.username && (imports(state.provider).localpart.on_conflict ?? 'fail') !== 'fail') {
          log.warn({ upstream_provider_id: state.provider.id, user_id: existing.id }, 'upstream localpart differs in case from the existing account; not linking');
          throw new StepError(409, 'Username already taken', `The username "${existing.username}" belongs to another account.`, 'username_taken');
        }
        await resolveConflict(req, res, state, existing);
        return undefined;
      }
      const problem = existing ? 'it is taken' : violations(localpart.value).find((v) => v.field === 'username')?.msg.replace(/\.$/, '');
      let available = !problem;
      if (available) {
        try {
          available = (await app.homeserver.isLocalpartAvailable(localpart.value)).available;
        } catch (err) {
          log.warn({ err }, 'homeserver unreachable while checking a username');
          throw new StepError(502, 'The homeserver is not reachable', 'Your account cannot be created right now. Try again in a moment.', 'homeserver_unavailable');
        }
      }
      if (!available) {
        if (localpart.forced) {
          log.warn({ upstream_provider_id: state.provider.id, localpart: localpart.value, problem: problem ?? 'not available on the homeserver' }, 'forced localpart cannot be registered');
          throw new StepError(409, 'Username not available', `Your identity provider gives you the username "${localpart.value}", which cannot be used here${problem ? ` (${problem})` : ''}.`, 'username_unavailable');
        }
        localpart.value = undefined; // only a suggestion: let the user choose
      }
    }
    if (claims.skip_confirmation && localpart.value === undefined) {
      throw new StepError(400, 'Sign-in failed', 'The identity provider did not send a username this server can use.', 'required_claim_missing');
    }
    return { localpart, displayname, email };
  }

  /** A forced localpart names an existing account that this subject is not linked to. */
  async function resolveConflict(req: Request, res: Response, state: LinkState, existing: users.User) {
    const onConflict = imports(state.provider).localpart.on_conflict ?? 'fail';
    const logContext = { upstream_provider_id: state.provider.id, user_id: existing.id, on_conflict: onConflict };
    if (onConflict === 'fail') {
      log.warn(logContext, 'upstream localpart matches an existing account that is not linked; on_conflict is fail');
      throw new StepError(
        409,
        'Username already taken',
        `Your identity provider gives you the username "${existing.username}", which belongs to an account that is not linked to your identity provider account. This server does not link them automatically: contact the administrator.`,
        'username_taken',
      );
    }
    const user = requireActive(existing);
    const secret = await app.sql.begin(async (tx) => {
      if (onConflict === 'replace') {
        const removed = await upstream.deleteLinksOfUser(tx, state.provider.id, user.id);
        if (removed) log.warn({ ...logContext, removed }, 'replaced the links of an existing account');
      } else if (onConflict === 'set' && (await upstream.countLinksOfUser(tx, state.provider.id, user.id)) > 0) {
        log.warn(logContext, 'upstream localpart matches an account already linked to another subject of this provider; on_conflict is set');
        throw new StepError(409, 'Username already taken', `The account "${user.username}" is already linked to another account at your identity provider.`, 'username_taken');
      }
      const link = await upstream.createLink(tx, { providerId: state.provider.id, subject: state.session.subject!, userId: user.id, humanAccountName: accountName(state) });
      if (!link) throw new StepError(409, 'Already linked', 'Your identity provider account was linked to an account meanwhile. Start signing in again.', 'already_linked');
      log.info(logContext, 'linked an upstream subject to the existing account with the same localpart');
      await resyncForcedClaims(tx, state, link, user);
      const started = await newBrowserSession(tx, req, user.id);
      await consume(tx, state, link.id, started.session.id);
      return started.secret;
    });
    finish(res, state, secret);
  }

  function renderRegister(req: Request, res: Response, state: LinkState, view: RegistrationView, status = 200, error?: string, username?: string) {
    const value = (a: ImportedAttribute) => (a.action === 'ignore' || a.value === undefined ? undefined : { value: a.value, forced: a.forced });
    page(res, status, 'upstream_register', {
      action: `/upstream/link/${state.session.id}`,
      csrf: csrfToken(config, req, res),
      provider: { name: displayName(state.provider.config) },
      account_name: accountName(state),
      localpart: { value: username ?? view.localpart.value ?? '', forced: view.localpart.forced && view.localpart.value !== undefined },
      displayname: value(view.displayname),
      email: view.email.value === undefined ? undefined : { ...value(view.email), verified: isEmailVerified(state, view.email.value) },
      error,
    });
  }

  /** Creates the account with its link and verified e-mail in one transaction, and signs it in. */
  async function register(req: Request, res: Response, state: LinkState, choice: upstream.PendingRegistration): Promise<void> {
    const refused = violations(choice.localpart, choice.email);
    if (refused.length) throw new FormError(refused.map((v) => v.msg).join(' '));
    if (await users.findByUsername(app.sql, choice.localpart)) throw new FormError('That username is taken. Choose another one.');
    let availability;
    try {
      availability = await app.homeserver.isLocalpartAvailable(choice.localpart);
    } catch (err) {
      log.warn({ err }, 'homeserver unreachable while checking a username');
      throw new StepError(502, 'The homeserver is not reachable', 'Your account cannot be created right now. Try again in a moment.', 'homeserver_unavailable');
    }
    if (!availability.available) throw new FormError('That username is not available. Choose another one.');

    const verified = choice.email !== undefined && isEmailVerified(state, choice.email);
    if (choice.email !== undefined && !verified && config.account.password_registration_email_required) {
      await upstream.setPendingRegistration(app.sql, state.session.id, choice);
      await emailVerificationStep({ app, renderer }, req, res, {
        upstreamSessionId: state.session.id,
        email: choice.email,
        continueUrl: `/upstream/link/${state.session.id}`,
        next: state.session.next_path,
      });
      return;
    }

    let secret: string;
    try {
      secret = await app.sql.begin(async (tx) => {
        const user = await users.create(tx, { username: choice.localpart, displayName: choice.displayName ?? null });
        if (choice.email !== undefined) await users.addEmail(tx, { userId: user.id, email: choice.email, verified });
        const link = await upstream.createLink(tx, {
          providerId: state.provider.id,
          subject: state.session.subject!,
          userId: user.id,
          humanAccountName: accountName(state),
          importedEmail: imports(state.provider).email.action === 'force' || imports(state.provider).email.action === 'require' ? (choice.email ?? null) : null,
        });
        if (!link) throw new StepError(409, 'Already linked', 'Your identity provider account was linked to an account meanwhile. Start signing in again.', 'already_linked');
        await enqueueProvisionUser(tx, user.id);
        const started = await newBrowserSession(tx, req, user.id);
        await consume(tx, state, link.id, started.session.id);
        log.info({ upstream_provider_id: state.provider.id, user_id: user.id }, 'registered a user through an upstream provider');
        return started.secret;
      });
    } catch (err) {
      if (err instanceof users.UsernameTakenError) throw new FormError('That username is taken. Choose another one.');
      throw err;
    }
    finish(res, state, secret);
  }

  /** The answers a registration form gives, with forced imports taking precedence. */
  function registrationChoice(view: RegistrationView, body: Record<string, unknown>): upstream.PendingRegistration {
    const field = (name: string) => (typeof body[name] === 'string' ? (body[name] as string).trim() : '');
    const take = (a: ImportedAttribute, checkbox: string) => (a.value !== undefined && (a.forced || field(checkbox) === 'on') ? a.value : undefined);
    const localpart = (view.localpart.forced && view.localpart.value !== undefined ? view.localpart.value : field('username')).toLowerCase();
    return { localpart, displayName: take(view.displayname, 'import_display_name'), email: take(view.email, 'import_email') };
  }

  router.get(
    '/upstream/link/:session',
    handle(async (req, res) => {
      const state = await linkState(req);
      const link = await upstream.findLink(app.sql, state.provider.id, state.session.subject!);
      const current = await currentSession(app.sql, req);
      if (link && current && current.user.id === link.user_id) return signIn(req, res, state, link, current.user, current);
      if (link && current) {
        const linked = await users.findById(app.sql, link.user_id);
        return page(res, 409, 'upstream_link', {
          mismatch: true,
          provider: { name: displayName(state.provider.config) },
          account_name: accountName(state),
          user: { mxid: mxid(current.user.username) },
          linked: linked ? { mxid: mxid(linked.username) } : undefined,
          csrf: csrfToken(config, req, res),
        });
      }
      if (link) return signIn(req, res, state, link, requireActive(await users.findById(app.sql, link.user_id)));
      if (current) {
        return page(res, 200, 'upstream_link', {
          action: `/upstream/link/${state.session.id}`,
          csrf: csrfToken(config, req, res),
          provider: { name: displayName(state.provider.config) },
          account_name: accountName(state),
          user: { mxid: mxid(current.user.username) },
        });
      }
      const view = await registrationView(req, res, state);
      if (!view) return;
      const pendingChoice = state.session.pending_registration;
      if (pendingChoice?.email && state.session.verified_email?.toLowerCase() === pendingChoice.email.toLowerCase()) {
        // Back from the mailed-code step: finish with the answers given before it.
        return registerOrForm(req, res, state, view, pendingChoice);
      }
      if (imports(state.provider).skip_confirmation) return registerOrForm(req, res, state, view, registrationChoice(view, {}));
      renderRegister(req, res, state, view);
    }),
  );

  async function registerOrForm(req: Request, res: Response, state: LinkState, view: RegistrationView, choice: upstream.PendingRegistration) {
    try {
      await register(req, res, state, choice);
    } catch (err) {
      if (err instanceof FormError) return renderRegister(req, res, state, view, 400, err.message, choice.localpart);
      throw err;
    }
  }

  router.post(
    '/upstream/link/:session',
    form,
    handle(async (req, res) => {
      if (!csrfValid(req)) return page(res, 403, 'error', { message: 'The form expired. Go back and try again.', code: 'csrf' });
      const state = await linkState(req);
      const body = (req.body ?? {}) as Record<string, unknown>;
      const link = await upstream.findLink(app.sql, state.provider.id, state.session.subject!);
      const current = await currentSession(app.sql, req);
      if (link) {
        // Linked meanwhile (another tab): the GET handles every linked case.
        return res.redirect(303, `/upstream/link/${state.session.id}`);
      }
      if (body.action === 'link') {
        if (!current) return res.redirect(303, `/upstream/link/${state.session.id}`);
        const user = requireActive(current.user);
        await app.sql.begin(async (tx) => {
          const created = await upstream.createLink(tx, { providerId: state.provider.id, subject: state.session.subject!, userId: user.id, humanAccountName: accountName(state) });
          if (!created) throw new StepError(409, 'Already linked', 'Your identity provider account was linked to an account meanwhile.', 'already_linked');
          await resyncForcedClaims(tx, state, created, user);
          await consume(tx, state, created.id, current.session.id);
        });
        log.info({ upstream_provider_id: state.provider.id, user_id: user.id }, 'linked an upstream subject to the signed-in account');
        return finish(res, state);
      }
      if (body.action !== 'register' || current) {
        return page(res, 400, 'error', { message: 'This form cannot be used now. Start signing in again.', code: 'invalid_form_action' });
      }
      const view = await registrationView(req, res, state);
      if (!view) return;
      const choice = registrationChoice(view, body);
      if (!choice.localpart) return renderRegister(req, res, state, view, 400, 'Choose a username.', '');
      await registerOrForm(req, res, state, view, choice);
    }),
  );

  // Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the provider, not a browser, POSTs here.
  router.post(
    '/upstream/backchannel-logout/:id',
    form,
    async (req, res, next) => {
      const answer = (status: number, error?: string) => {
        res.status(status).set('Cache-Control', 'no-store');
        if (error) res.json({ error: 'invalid_request', error_description: error });
        else res.end();
      };
      try {
        let provider: UpstreamClientProvider;
        try {
          provider = await loadProvider(String(req.params.id));
        } catch (err) {
          if (err instanceof StepError) return answer(err.status === 404 ? 404 : 400, err.message);
          throw err;
        }
        const token = typeof req.body?.logout_token === 'string' ? req.body.logout_token : '';
        if (!token) return answer(400, 'logout_token is missing');
        let claims;
        try {
          claims = await validateLogoutToken(config, provider, token);
        } catch (err) {
          if (err instanceof InvalidLogoutToken) {
            log.warn({ upstream_provider_id: provider.id, problem: err.message }, 'back-channel logout refused');
            return answer(400, err.message);
          }
          if (isUnavailable(err)) return answer(502, 'the provider keys cannot be fetched');
          throw err;
        }
        if (!(await upstream.rememberLogoutToken(app.sql, provider.id, claims.jti))) {
          log.warn({ upstream_provider_id: provider.id }, 'back-channel logout token replayed');
          return answer(400, 'this logout token was already used');
        }
        const mode = provider.config.on_backchannel_logout ?? 'do_nothing';
        const sessions = await upstream.sessionsForLogout(app.sql, provider.id, { subject: claims.sub, sid: claims.sid });
        log.info({ upstream_provider_id: provider.id, mode, matched_sessions: sessions.length }, 'back-channel logout received');
        if (mode !== 'do_nothing') await endSessions(sessions, mode === 'logout_all');
        answer(200);
      } catch (err) {
        next(err);
      }
    },
  );

  /**
   * Ends the browser sessions the upstream sessions signed in; with `all`, every OAuth 2.0 and
   * compatibility session of those users too (Mauth does not record which browser session started
   * which client session, so it ends them all rather than leave one running).
   */
  async function endSessions(sessions: (upstream.SessionRow & { user_id: string })[], all: boolean) {
    for (const s of sessions) if (s.browser_session_id) await browserSessions.finish(app.sql, s.browser_session_id);
    if (!all) return;
    for (const userId of new Set(sessions.map((s) => s.user_id))) {
      for (const id of await upstream.activeBrowserSessionIdsOfUser(app.sql, userId)) await browserSessions.finish(app.sql, id);
      await endAllOAuthSessionsOfUser(app.sql, oidcProvider, userId);
      await endCompatSessions(app, (tx) => compat.finishAllForUser(tx, userId));
    }
  }

  return router;
}
