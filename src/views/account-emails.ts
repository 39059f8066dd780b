// The account's e-mail addresses: adding one (for accounts created without, e.g. by an upstream
// provider or `register-user`) goes through the same mailed-code check as registration; removing
// one keeps the last verified address when registration requires one. Both only when
// `account.email_change_allowed`; the homeserver gets the new list through a provision_user job.
import express, { type Request, type Response, type Router } from 'express';
import type { ViewDeps } from './deps.js';
import { removeEmail } from '../accounts/emails.js';
import { resendCode, startEmailAuthentication, verifyCode } from '../accounts/email-verification.js';
import { parseEmailAddress } from '../domain/email-address.js';
import { csrfToken } from '../web/browser.js';
import { accountPages, sectionAllowed, type SignedIn } from './account/common.js';
import { RateLimited } from '../accounts/rate-limit.js';
import { enqueueProvisionUser } from '../jobs/homeserver-jobs.js';
import { evaluateEmail } from '../policy/register.js';
import { currentPolicyData } from '../policy/dynamic-data.js';
import * as registrations from '../storage/registrations.js';
import * as users from '../storage/users.js';
import { csrfForm } from '../web/forms.js';
import { msg } from '../web/i18n.js';
import { emailProblemMessage, violationMessage } from './form-messages.js';

export function accountEmailsRouter(deps: ViewDeps): Router {
  const { app, renderer } = deps;
  const { config } = app;
  const router = express.Router();
  const form = csrfForm(renderer);
  const page = renderer.send;
  const pages = accountPages(deps);
  const signedIn = (req: Request, res: Response) => pages.signedIn(req, res, '/account/emails');

  async function renderList(req: Request, res: Response, current: SignedIn, status = 200, extra: Record<string, unknown> = {}) {
    const emails = await users.listEmails(app.sql, current.user.id);
    const verified = emails.filter((e) => e.verified_at).length;
    pages.render(req, res, status, 'account_emails', current, {
      emails: emails.map((e) => ({
        id: e.id,
        email: e.email,
        verified: !!e.verified_at,
        // The last verified address stays when registration requires one.
        removable: !(e.verified_at && verified === 1 && config.account.password_registration_email_required),
      })),
      can_add: config.account.email_change_allowed,
      can_remove: config.account.email_change_allowed,
      ...extra,
    });
  }

  router.get('/account/emails', async (req, res) => {
    const current = await signedIn(req, res);
    if (current) await renderList(req, res, current);
  });

  router.post('/account/emails/remove', form, async (req, res) => {
    const current = await signedIn(req, res);
    if (!current) return;
    if (!sectionAllowed(config, 'email')) return pages.refuse(req, res, current, 'email');
    const id = typeof req.body?.email_id === 'string' ? req.body.email_id : '';
    const outcome = await removeEmail(app.sql, config, current.user.id, id);
    if (outcome === 'removed') return renderList(req, res, current, 200, { notice: msg('account_emails.removed') });
    await renderList(req, res, current, outcome === 'not_found' ? 404 : 400, { error: msg(outcome === 'not_found' ? 'account_emails.not_found' : 'account_emails.last_address') });
  });

  router.post('/account/emails', form, async (req, res) => {
    const current = await signedIn(req, res);
    if (!current) return;
    if (!sectionAllowed(config, 'email')) return pages.refuse(req, res, current, 'email');
    const typed = typeof req.body?.email === 'string' ? (req.body.email as string).trim() : '';
    const parsed = parseEmailAddress(typed);
    if (!parsed.ok) return renderList(req, res, current, 400, { errors: { email: emailProblemMessage(parsed) }, typed_email: typed });
    const problem = evaluateEmail(parsed.value.address, await currentPolicyData(app))[0];
    if (problem) {
      const refused = violationMessage(problem, { username: current.user.username, email: parsed.value.address, serverName: config.matrix.homeserver });
      return renderList(req, res, current, 400, { errors: { email: refused }, typed_email: typed });
    }
    try {
      // The code goes to the canonical form, which is what gets stored once it is proven.
      const auth = await startEmailAuthentication(app, { email: parsed.value.address, userId: current.user.id, ip: req.ip, lang: renderer.i18n.languageOf(req) });
      res.redirect(303, `/account/emails/verify/${auth.id}`);
    } catch (err) {
      if (!(err instanceof RateLimited)) throw err;
      const seconds = Math.ceil(err.retryAfterMs / 1000);
      res.set('Retry-After', String(seconds));
      await renderList(req, res, current, 429, { errors: { email: msg('account_emails.too_many_emails', { seconds }) }, typed_email: typed });
    }
  });

  async function ownAuthentication(req: Request, res: Response) {
    const current = await signedIn(req, res);
    if (!current) return undefined;
    const id = String(req.params.id);
    // No id holds a NUL (PostgreSQL could not even compare one): such a request names nothing.
    const auth = id.includes('\u0000') ? undefined : await registrations.findEmailAuthentication(app.sql, id);
    if (!auth || auth.user_id !== current.user.id || auth.completed_at) {
      page(res, 404, 'error', { message: msg('errors.no_address_waiting'), code: 'not_found', link: { href: '/account/emails', label: msg('account.nav.emails') } });
      return undefined;
    }
    return { current, auth };
  }

  const renderVerify = (req: Request, res: Response, id: string, email: string, status: number, extra: Record<string, unknown> = {}) =>
    page(res, status, 'verify_email', {
      action: `/account/emails/verify/${id}`,
      csrf: csrfToken(config, req, res, app.random),
      email,
      minutes: Math.round(config.account.email_code_ttl / 60),
      ...extra,
    });

  router.get('/account/emails/verify/:id', async (req, res) => {
    const found = await ownAuthentication(req, res);
    if (found) renderVerify(req, res, found.auth.id, found.auth.email, 200);
  });

  router.post('/account/emails/verify/:id', form, async (req, res) => {
    const found = await ownAuthentication(req, res);
    if (!found) return;
    const { auth, current } = found;
    if (!sectionAllowed(config, 'email')) return pages.refuse(req, res, current, 'email');
    if (req.body?.action === 'resend') {
      try {
        await resendCode(app, auth, req.ip, renderer.i18n.languageOf(req));
        return renderVerify(req, res, auth.id, auth.email, 200, { notice: msg('errors.code_sent_again') });
      } catch (err) {
        if (!(err instanceof RateLimited)) throw err;
        res.set('Retry-After', String(Math.ceil(err.retryAfterMs / 1000)));
        return renderVerify(req, res, auth.id, auth.email, 429, { error: msg('errors.too_many_emails') });
      }
    }
    const outcome = await verifyCode(app, auth, typeof req.body?.code === 'string' ? req.body.code : '');
    if (outcome === 'valid') {
      await app.sql.begin(async (tx) => {
        await users.addEmail(tx, { userId: current.user.id, email: auth.email, verified: true });
        await enqueueProvisionUser(tx, current.user.id);
      });
      return renderList(req, res, current, 200, { notice: msg('account_emails.verified', { email: auth.email }) });
    }
    if (outcome === 'too_many_attempts') {
      return renderList(req, res, current, 429, { error: msg('account_emails.too_many_codes') });
    }
    const error = msg(outcome === 'expired' ? 'errors.code_expired' : 'errors.code_wrong');
    renderVerify(req, res, auth.id, auth.email, 400, { error, expired: outcome === 'expired' });
  });

  return router;
}
