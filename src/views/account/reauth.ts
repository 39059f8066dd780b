// The "confirm it's you" part of the pages that cannot be undone (cross-signing reset,
// deactivation): the password field for an account with one, and a button per upstream provider
// the account is linked to, which signs this browser in again there and comes back. A sign-in
// through a provider within the last few minutes counts as the proof; otherwise the password does.
import type { Request } from 'express';
import { checkOwnPassword, reauthMethods, reauthenticatedUpstream } from '../../accounts/reauth.js';
import { loginButtons } from '../../upstream/providers.js';
import { msg, type Message } from '../../web/i18n.js';
import type { ViewDeps } from '../deps.js';
import type { SignedIn } from './common.js';

export interface ReauthView {
  /** Show the password field. */
  password: boolean;
  /** Buttons that sign in again through a linked provider and come back. */
  providers: { id: string; name: string; brand?: string; url: string }[];
  /** A provider sign-in just happened: no password needed. */
  fresh: boolean;
  /** Neither a password nor a linked provider: the user cannot prove it here. */
  impossible: boolean;
}

export type ReauthResult =
  | { ok: true }
  | { ok: false; problem: 'missing' | 'wrong' | 'impossible' | 'unavailable' }
  | { ok: false; problem: 'rate_limited'; retryAfterMs: number };

export type ReauthFailure = Exclude<ReauthResult, { ok: true }>;

/** Why the check failed, in words, for the page that showed `view`. */
export function reauthProblemMessage(failure: ReauthFailure, view: ReauthView): Message {
  switch (failure.problem) {
    case 'wrong':
      return msg('account.reauth.wrong');
    case 'missing':
      return msg(view.password ? 'account.reauth.missing_password' : 'account.reauth.missing_provider');
    case 'rate_limited':
      return msg('account.rate_limited', { seconds: Math.ceil(failure.retryAfterMs / 1000) });
    case 'unavailable':
      return msg('account.reauth.unavailable');
    case 'impossible':
      return msg('account.reauth.impossible_short');
  }
}

export function reauthentication({ app, hasher, limiter, directory }: ViewDeps) {
  async function view(current: SignedIn, back: string): Promise<ReauthView> {
    const methods = await reauthMethods(app, current.user, directory);
    const fresh = await reauthenticatedUpstream(app, current.session.id, current.user.id);
    const providers = loginButtons(app.config, back).filter((b) => methods.providerIds.includes(b.id));
    return { password: methods.password && !fresh, providers: fresh ? [] : providers, fresh, impossible: !fresh && !methods.password && providers.length === 0 };
  }

  async function check(req: Request, current: SignedIn): Promise<ReauthResult> {
    if (await reauthenticatedUpstream(app, current.session.id, current.user.id)) return { ok: true };
    const methods = await reauthMethods(app, current.user, directory);
    if (!methods.password) return { ok: false, problem: methods.providerIds.length ? 'missing' : 'impossible' };
    const password = typeof req.body?.password === 'string' ? (req.body.password as string) : '';
    if (!password) return { ok: false, problem: 'missing' };
    const outcome = await checkOwnPassword(app, { hasher, limiter, directory }, current.user, password, req.ip);
    if (outcome.ok) return { ok: true };
    if (outcome.reason === 'rate_limited') return { ok: false, problem: 'rate_limited', retryAfterMs: outcome.retryAfterMs };
    if (outcome.reason === 'wrong' || outcome.reason === 'unavailable') return { ok: false, problem: outcome.reason };
    return { ok: false, problem: 'impossible' };
  }

  return { view, check };
}
