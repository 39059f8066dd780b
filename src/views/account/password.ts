// `/account/password`: changing the password with the current one, when
// `account.password_change_allowed` and passwords are on. The rules are registration's.
import express, { type Request, type Response, type Router } from 'express';
import { changePassword, type ChangePasswordOutcome } from '../../accounts/change-password.js';
import * as users from '../../storage/users.js';
import { csrfForm } from '../../web/forms.js';
import { msg, type Message } from '../../web/i18n.js';
import type { ViewDeps } from '../deps.js';
import { sectionAllowed, type AccountPages, type SignedIn } from './common.js';

/** Why the password was not changed, in words. */
function problemMessage(outcome: Exclude<ChangePasswordOutcome, { ok: true }>): Message {
  switch (outcome.problem) {
    case 'wrong':
      return msg('account_password.current_wrong');
    case 'no_password':
      return msg('account_password.current_none');
    case 'unavailable':
      return msg('account_password.unavailable');
    case 'rate_limited':
      return msg('account.rate_limited', { seconds: Math.ceil(outcome.retryAfterMs / 1000) });
    case 'missing':
      return msg(outcome.field === 'current_password' ? 'account_password.current_missing' : 'account_password.new_missing');
    case 'too_weak':
      // zxcvbn-ts gives its message keys (form-messages.ts): the hint is the catalogue's.
      return outcome.hint ? msg('account_password.too_weak_hint', { hint: msg(`password_hint.${outcome.hint}`) }) : msg('account_password.too_weak');
    case 'mismatch':
      return msg('account_password.mismatch');
  }
}

export function passwordRouter(deps: ViewDeps, pages: AccountPages): Router {
  const { app, renderer } = deps;
  const router = express.Router();
  const form = csrfForm(renderer);

  async function renderForm(req: Request, res: Response, current: SignedIn, status = 200, extra: Record<string, unknown> = {}) {
    // A directory account's password is the directory's to change.
    const hasPassword = current.user.password_source === 'local' && (await users.currentPassword(app.sql, current.user.id)) !== undefined;
    pages.render(req, res, status, 'account_password', current, {
      has_password: hasPassword,
      minimum_complexity: app.config.passwords.minimum_complexity,
      errors: {},
      ...extra,
    });
  }

  router.get('/account/password', async (req, res) => {
    const current = await pages.signedIn(req, res);
    if (!current) return;
    if (!sectionAllowed(app.config, 'password')) return pages.refuse(req, res, current, 'password');
    await renderForm(req, res, current);
  });

  router.post('/account/password', form, async (req, res) => {
    const current = await pages.signedIn(req, res, '/account/password');
    if (!current) return;
    if (!sectionAllowed(app.config, 'password')) return pages.refuse(req, res, current, 'password');
    const field = (name: string) => (typeof req.body?.[name] === 'string' ? (req.body[name] as string) : '');
    const outcome = await changePassword(app, deps, {
      user: current.user,
      browserSessionId: current.session.id,
      current: field('current_password'),
      next: field('new_password'),
      confirm: field('new_password_confirm'),
      signOutOthers: req.body?.sign_out_others === 'on',
      ip: req.ip,
    });
    if (outcome.ok) {
      const notice = msg(req.body?.sign_out_others === 'on' ? 'account_password.changed_signed_out' : 'account_password.changed');
      return renderForm(req, res, current, 200, { notice });
    }
    let status = outcome.problem === 'unavailable' ? 503 : 400;
    if (outcome.problem === 'rate_limited') {
      const seconds = Math.ceil(outcome.retryAfterMs / 1000);
      res.set('Retry-After', String(seconds));
      status = 429;
    }
    await renderForm(req, res, current, status, {
      errors: { [outcome.field]: problemMessage(outcome) },
      sign_out_others: req.body?.sign_out_others === 'on',
    });
  });

  return router;
}
