// The link step's state: the upstream session whose round trip this browser finished, its
// provider and the claims it brought; and what every way of finishing it shares: rendering the
// imports, starting a browser session, using the upstream session up, going on to `next`.
import type { Request, Response } from 'express';
import type { AppContext } from '../../context.js';
import type { Config } from '../../config/types.js';
import { claimsContext, renderTemplate, type ClaimsContext } from '../../domain/claims-template/index.js';
import { matrixUserId } from '../../domain/usernames.js';
import * as browserSessions from '../../storage/browser-sessions.js';
import type { Tx } from '../../storage/db.js';
import * as upstream from '../../storage/upstream.js';
import type * as users from '../../storage/users.js';
import { checkImportedEmail, emailVerified, importAttribute, type ImportedAttribute } from '../../upstream/claims.js';
import type { UpstreamClientProvider } from '../../upstream/stored-provider.js';
import { SESSION_COOKIE, cookieOptions } from '../../web/browser.js';
import { RouteError } from '../../web/errors.js';
import { msg } from '../../web/i18n.js';
import { sessionUsed } from './errors.js';
import { claimsImports, loadProvider } from './provider.js';
import { readPending, writePending, type Pending } from './state.js';

export interface LinkState {
  session: upstream.SessionRow;
  provider: UpstreamClientProvider;
  context: ClaimsContext;
  pending: Pending[];
  entry: Pending;
}

export async function loadLinkState(app: AppContext, req: Request): Promise<LinkState> {
  const id = String(req.params.session);
  const pending = readPending(req);
  const entry = pending.find((e) => e.s === id);
  const session = entry ? await upstream.findSession(app.sql, id, app.clock.now()) : undefined;
  if (!entry || !session || !session.completed_at || !session.subject) {
    throw new RouteError(400, 'invalid_upstream_session', msg('errors.upstream.not_started_here'), { title: msg('errors.upstream.cannot_complete_title') });
  }
  if (session.consumed_at) throw sessionUsed();
  const provider = await loadProvider(app, session.provider_id);
  const context = claimsContext({
    idTokenClaims: session.id_token_claims,
    userinfoClaims: session.userinfo_claims,
    extraCallbackParameters: session.extra_callback_parameters,
  });
  return { session, provider, context, pending, entry };
}

export function accountName(app: AppContext, state: LinkState): string | undefined {
  const template = claimsImports(state.provider).account_name.template;
  if (!template) return undefined;
  const rendered = renderTemplate('account_name', template, state.context);
  if (!rendered.ok) app.log.warn({ upstream_provider_id: state.provider.id, problem: rendered.error.message }, 'claims_imports.account_name cannot be rendered');
  return rendered.ok ? rendered.value : undefined;
}

/**
 * Renders an attribute for a registration, logging template problems; a required attribute that
 * fails stops the step. With `soft` (a sign-in's re-sync) nothing stops: problems are only logged.
 */
export function importedAttribute(app: AppContext, state: LinkState, name: 'localpart' | 'displayname' | 'email', soft = false): ImportedAttribute {
  const outcome = checkImportedEmail(name, importAttribute(name, claimsImports(state.provider)[name], state.context));
  const logged = { upstream_provider_id: state.provider.id };
  if (soft) {
    if (outcome.warning || outcome.problem) app.log.warn({ ...logged, problem: outcome.warning ?? outcome.problem?.operatorMessage }, 'claim not re-applied at sign-in');
    return outcome.attribute;
  }
  if (outcome.warning) app.log.warn({ ...logged, problem: outcome.warning }, 'claims template failed; attribute not imported');
  if (outcome.problem) {
    app.log.error({ ...logged, problem: outcome.problem.operatorMessage }, 'required claim cannot be imported');
    throw new RouteError(400, 'required_claim_missing', msg(outcome.problem.kind === 'missing' ? 'errors.upstream.claim_missing' : 'errors.upstream.claim_unusable', { attribute: msg(`errors.upstream.attribute.${name}`) }), { title: msg('errors.upstream.failed_title') });
  }
  return outcome.attribute;
}

/** The provider vouches for the address, or the browser proved it with a mailed code during this session. */
export function isEmailVerified(state: LinkState, email: string): boolean {
  return emailVerified(claimsImports(state.provider), state.context) || state.session.verified_email?.toLowerCase() === email.toLowerCase();
}

export function requireActive(config: Config, user: users.User | undefined): users.User {
  const mxid = (u: users.User) => matrixUserId(u.username, config.matrix.homeserver);
  if (!user) throw new RouteError(400, 'user_not_found', msg('errors.upstream.user_gone'), { title: msg('errors.upstream.cannot_complete_title') });
  if (user.deactivated_at) throw new RouteError(403, 'user_deactivated', msg('errors.upstream.deactivated', { mxid: mxid(user) }), { title: msg('errors.upstream.deactivated_title') });
  if (user.locked_at) throw new RouteError(403, 'user_locked', msg('errors.upstream.locked', { mxid: mxid(user) }), { title: msg('errors.upstream.locked_title') });
  return user;
}

/** Starts a browser session in `tx`; `finish` sets its cookie once the transaction committed. */
export async function startBrowserSession(app: AppContext, tx: Tx, req: Request, userId: string) {
  const secret = app.random.bytes(32).toString('base64url');
  const session = await browserSessions.create(tx, { secret, userId, userAgent: req.get('user-agent')?.slice(0, 512), ipAddress: req.ip, now: app.clock.now() });
  return { session, secret };
}

/** Uses the upstream session up: it signed `browserSessionId` in through `linkId`. */
export async function consume(app: AppContext, tx: Tx, state: LinkState, linkId: string, browserSessionId: string): Promise<void> {
  if (!(await upstream.consumeSession(tx, state.session.id, { linkId, browserSessionId, now: app.clock.now() }))) throw sessionUsed();
}

export function finish(app: AppContext, res: Response, state: LinkState, browserSecret?: string): void {
  if (browserSecret) res.cookie(SESSION_COOKIE, browserSecret, cookieOptions(app.config));
  writePending(app.config, res, state.pending.filter((e) => e !== state.entry));
  res.redirect(303, state.session.next_path);
}
