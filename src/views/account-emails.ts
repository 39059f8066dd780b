// The account's e-mail addresses: adding one (for accounts created without, e.g. by an upstream
// provider or `register-user`) goes through the same mailed-code check as registration.
import express, { type Request, type Response, type Router } from 'express';
import type { ViewDeps } from './deps.js';
import { resendCode, startEmailAuthentication, verifyCode } from '../accounts/email-verification.js';
import { parseEmailAddress } from '../domain/email-address.js';
import { csrfToken, currentSession } from '../web/browser.js';
import { RateLimited } from '../accounts/rate-limit.js';
import { enqueueProvisionUser } from '../jobs/homeserver-jobs.js';
import { evaluateEmail } from '../policy/register.js';
import { currentPolicyData } from '../policy/dynamic-data.js';
import * as registrations from '../storage/registrations.js';
import * as users from '../storage/users.js';
import { csrfForm } from '../web/forms.js';

export function accountEmailsRouter({ app, renderer }: ViewDeps): Router {
  const { config } = app;
  const router = express.Router();
  const form = csrfForm(renderer);
  const page = renderer.send;

  async function signedIn(req: Request, res: Response) {
    const current = await currentSession(app, req);
    if (!current) res.redirect(303, `/login?next=${encodeURIComponent('/account/emails')}`);
    return current;
  }

  async function renderList(req: Request, res: Response, userId: string, status = 200, extra: Record<string, unknown> = {}) {
    page(res, status, 'account_emails', {
      csrf: csrfToken(config, req, res, app.random),
      emails: (await users.listEmails(app.sql, userId)).map((e) => ({ email: e.email, verified: !!e.verified_at })),
      can_add: config.account.email_change_allowed,
      ...extra,
    });
  }

  router.get('/account/emails', async (req, res) => {
    const current = await signedIn(req, res);
    if (current) await renderList(req, res, current.user.id);
  });

  router.post('/account/emails', form, async (req, res) => {
    const current = await signedIn(req, res);
    if (!current) return;
    if (!config.account.email_change_allowed) return renderList(req, res, current.user.id, 403, { error: 'E-mail addresses cannot be changed here.' });
    const typed = typeof req.body?.email === 'string' ? (req.body.email as string).trim() : '';
    const parsed = parseEmailAddress(typed);
    if (!parsed.ok) return renderList(req, res, current.user.id, 400, { error: parsed.message });
    const problem = evaluateEmail(parsed.value.address, await currentPolicyData(app))[0];
    if (problem) return renderList(req, res, current.user.id, 400, { error: problem.msg });
    try {
      // The code goes to the canonical form, which is what gets stored once it is proven.
      const auth = await startEmailAuthentication(app, { email: parsed.value.address, userId: current.user.id, ip: req.ip });
      res.redirect(303, `/account/emails/verify/${auth.id}`);
    } catch (err) {
      if (!(err instanceof RateLimited)) throw err;
      res.set('Retry-After', String(Math.ceil(err.retryAfterMs / 1000)));
      await renderList(req, res, current.user.id, 429, { error: 'Too many e-mails. Try again later.' });
    }
  });

  async function ownAuthentication(req: Request, res: Response) {
    const current = await signedIn(req, res);
    if (!current) return undefined;
    const auth = await registrations.findEmailAuthentication(app.sql, String(req.params.id));
    if (!auth || auth.user_id !== current.user.id || auth.completed_at) {
      page(res, 404, 'error', { message: 'There is no address waiting for a code here.', code: 'not_found', link: { href: '/account/emails', label: 'Your addresses' } });
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
    if (req.body?.action === 'resend') {
      try {
        await resendCode(app, auth, req.ip);
        return renderVerify(req, res, auth.id, auth.email, 200, { notice: 'A new code is on its way.' });
      } catch (err) {
        if (!(err instanceof RateLimited)) throw err;
        res.set('Retry-After', String(Math.ceil(err.retryAfterMs / 1000)));
        return renderVerify(req, res, auth.id, auth.email, 429, { error: 'Too many e-mails. Try again later.' });
      }
    }
    const outcome = await verifyCode(app, auth, typeof req.body?.code === 'string' ? req.body.code : '');
    if (outcome === 'valid') {
      await app.sql.begin(async (tx) => {
        await users.addEmail(tx, { userId: current.user.id, email: auth.email, verified: true });
        await enqueueProvisionUser(tx, current.user.id);
      });
      return renderList(req, res, current.user.id, 200, { notice: `${auth.email} is verified.` });
    }
    if (outcome === 'too_many_attempts') {
      return renderList(req, res, current.user.id, 429, { error: 'Too many wrong codes. Add the address again to get a new code.' });
    }
    const error = outcome === 'expired' ? 'This code has expired. Send yourself a new one.' : 'That code is not right.';
    renderVerify(req, res, auth.id, auth.email, 400, { error, expired: outcome === 'expired' });
  });

  return router;
}
