// The three ways a link step signs a browser in through a link: the subject was linked already
// (signIn), the signed-in user links it now (linkCurrentUser), or a forced localpart names an
// existing account that `on_conflict` lets it link to (linkExistingAccount). Each re-applies the
// forced claims (planResync) in the transaction that uses the upstream session up.
import type { Request, Response } from 'express';
import type { AppContext } from '../../context.js';
import { enqueueProvisionUser } from '../../jobs/homeserver-jobs.js';
import type { Tx } from '../../storage/db.js';
import * as upstream from '../../storage/upstream.js';
import * as users from '../../storage/users.js';
import { decideExistingLink, planResync, type OnConflict } from '../../upstream/link.js';
import { RouteError } from '../../web/errors.js';
import { msg } from '../../web/i18n.js';
import { accountName, consume, finish, importedAttribute, isEmailVerified, requireActive, startBrowserSession, type LinkState } from './session.js';

function alreadyLinked(): RouteError {
  return new RouteError(409, 'already_linked', msg('errors.upstream.linked_meanwhile'), { title: msg('errors.upstream.already_linked_title') });
}

/**
 * Beyond MAS: a linked user's `force`d display name and e-mail follow the provider on every
 * sign-in; the homeserver is told through a provision_user job when anything changed.
 */
async function resyncForcedClaims(app: AppContext, tx: Tx, state: LinkState, link: upstream.LinkRow, user: users.User): Promise<void> {
  const displayname = importedAttribute(app, state, 'displayname', true);
  const email = importedAttribute(app, state, 'email', true);
  const plan = planResync({
    displayname,
    email,
    emailVerified: email.value !== undefined && isEmailVerified(state, email.value),
    accountName: accountName(app, state),
    user: { displayName: user.display_name },
    link: { importedEmail: link.imported_email },
  });
  if (plan.displayName !== undefined) await users.setDisplayName(tx, user.id, plan.displayName);
  if (plan.email) {
    if (plan.email.remove) await upstream.removeImportedEmail(tx, user.id, plan.email.remove);
    await users.addEmail(tx, { userId: user.id, email: plan.email.add, verified: plan.email.verified });
  }
  await upstream.updateLinkImports(tx, link.id, plan.link);
  if (plan.provision) await enqueueProvisionUser(tx, user.id);
}

/** Signs `user` in through `link`: a new browser session, or the current one when it is already that user's. */
export async function signIn(app: AppContext, req: Request, res: Response, state: LinkState, link: upstream.LinkRow, user: users.User, current?: { session: { id: string } }) {
  const secret = await app.sql.begin(async (tx) => {
    await resyncForcedClaims(app, tx, state, link, user);
    if (current) {
      await consume(app, tx, state, link.id, current.session.id);
      return undefined;
    }
    const started = await startBrowserSession(app, tx, req, user.id);
    await consume(app, tx, state, link.id, started.session.id);
    return started.secret;
  });
  finish(app, res, state, secret);
}

/** The signed-in user links the subject to their account. */
export async function linkCurrentUser(app: AppContext, res: Response, state: LinkState, current: { user: users.User; session: { id: string } }) {
  const user = requireActive(app.config, current.user);
  await app.sql.begin(async (tx) => {
    const created = await upstream.createLink(tx, { providerId: state.provider.id, subject: state.session.subject!, userId: user.id, humanAccountName: accountName(app, state) });
    if (!created) throw alreadyLinked();
    await resyncForcedClaims(app, tx, state, created, user);
    await consume(app, tx, state, created.id, current.session.id);
  });
  app.log.info({ upstream_provider_id: state.provider.id, user_id: user.id }, 'linked an upstream subject to the signed-in account');
  finish(app, res, state);
}

/** A forced localpart names `existing`, which this subject is not linked to, and `on_conflict` allows linking. */
export async function linkExistingAccount(app: AppContext, req: Request, res: Response, state: LinkState, existing: users.User, onConflict: Exclude<OnConflict, 'fail'>) {
  const logContext = { upstream_provider_id: state.provider.id, user_id: existing.id, on_conflict: onConflict };
  const user = requireActive(app.config, existing);
  const secret = await app.sql.begin(async (tx) => {
    const decision = decideExistingLink(onConflict, await upstream.countLinksOfUser(tx, state.provider.id, user.id));
    if (decision.kind === 'conflict') {
      app.log.warn(logContext, 'upstream localpart matches an account already linked to another subject of this provider; on_conflict is set');
      throw new RouteError(409, 'username_taken', msg('errors.upstream.username_linked_elsewhere', { username: user.username }), { title: msg('errors.upstream.username_taken_title') });
    }
    if (decision.replaceLinks) {
      const removed = await upstream.deleteLinksOfUser(tx, state.provider.id, user.id);
      if (removed) app.log.warn({ ...logContext, removed }, 'replaced the links of an existing account');
    }
    const link = await upstream.createLink(tx, { providerId: state.provider.id, subject: state.session.subject!, userId: user.id, humanAccountName: accountName(app, state) });
    if (!link) throw alreadyLinked();
    app.log.info(logContext, 'linked an upstream subject to the existing account with the same localpart');
    await resyncForcedClaims(app, tx, state, link, user);
    const started = await startBrowserSession(app, tx, req, user.id);
    await consume(app, tx, state, link.id, started.session.id);
    return started.secret;
  });
  finish(app, res, state, secret);
}
