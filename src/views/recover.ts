// Password recovery (`account.password_recovery_enabled`): an address in, the same answer
// whatever it is (no account enumeration), a single-use link mailed to every account holding it
// verified; the new password ends all the user's sessions, here and on the homeserver.
// Accounts are found by the address's comparison key and the link goes to the address as the
// account stores it: what the visitor typed is never a recipient (a look-alike such as
// `carol@gmaİl.example` is another domain, and may belong to whoever typed it).
import { matrixUserId } from '../domain/usernames.js';
import express, { type Request, type Response, type Router } from 'express';
import type { ViewDeps } from './deps.js';
import { secondsAfter } from '../clock.js';
import { endGrantsNow, endSessionsWithPassword } from '../accounts/sessions.js';
import { parseEmailAddress } from '../domain/email-address.js';
import { hashSecret } from '../domain/tokens.js';
import { enqueueRecoveryLink } from '../jobs/mail.js';
import { csrfToken } from '../web/browser.js';
import { RateLimited, limit } from '../accounts/rate-limit.js';
import * as registrations from '../storage/registrations.js';
import * as users from '../storage/users.js';
import { csrfForm } from '../web/forms.js';
import { msg, type Message } from '../web/i18n.js';
import { emailProblemMessage, weakPasswordMessage } from './form-messages.js';

export function recoveryRouter(deps: ViewDeps): Router {
  const { app, renderer, hasher, provider } = deps;
  const { config } = app;
  const router = express.Router();
  const form = csrfForm(renderer);
  const page = (res: Response, status: number, name: string, context: Record<string, unknown>) => {
    res.status(status).type('html').set('Cache-Control', 'no-store').set('Referrer-Policy', 'no-referrer').send(renderer.render(name, context, res.req));
  };
  const linkUnusable = (res: Response) =>
    page(res, 400, 'error', {
      title: msg('errors.recovery.unusable_title'),
      message: msg('errors.recovery.unusable'),
      code: 'recovery_link_unusable',
      link: { href: '/recover', label: msg('errors.recovery.recover_link') },
    });

  router.use(['/recover', '/recover/*rest'], (_req, res, next) => {
    if (!config.account.password_recovery_enabled) {
      page(res, 404, 'error', { title: msg('errors.recovery.disabled_title'), message: msg('errors.recovery.disabled'), code: 'recovery_disabled' });
      return;
    }
    next();
  });

  // A directory account's password lives in the directory: a local one would never be checked.
  const directoryAccount = (res: Response) =>
    page(res, 400, 'error', { title: msg('errors.recovery.directory_title'), message: msg('errors.recovery.directory'), code: 'recovery_directory_account' });

  const renderStart = (req: Request, res: Response, status: number, error?: Message) =>
    page(res, status, 'recover', { action: '/recover', csrf: csrfToken(config, req, res, app.random), error });

  router.get('/recover', (req, res) => renderStart(req, res, 200));

  router.post('/recover', form, async (req, res) => {
    const typed = typeof req.body?.email === 'string' ? (req.body.email as string).trim() : '';
    const parsed = parseEmailAddress(typed);
    if (!parsed.ok) return renderStart(req, res, 400, emailProblemMessage(parsed));
    try {
      await limit(app.sql, `recovery:ip:${req.ip ?? 'unknown'}`, config.rate_limiting.account_recovery.per_ip);
      await limit(app.sql, `recovery:address:${parsed.value.key}`, config.rate_limiting.account_recovery.per_address);
    } catch (err) {
      if (!(err instanceof RateLimited)) throw err;
      res.set('Retry-After', String(Math.ceil(err.retryAfterMs / 1000)));
      return renderStart(req, res, 429, msg('errors.too_many_requests'));
    }
    // Directory accounts get no link (the same page, so the address is not told apart).
    const holders = (await users.findByVerifiedEmail(app.sql, parsed.value)).filter((u) => users.isActive(u) && u.password_source === 'local');
    const expiresAt = secondsAfter(app.clock.now(), config.account.recovery_ticket_ttl);
    const lang = renderer.i18n.languageOf(req);
    await app.sql.begin(async (tx) => {
      for (const user of holders) {
        const ticket = app.random.bytes(32).toString('base64url');
        await registrations.createRecoveryTicket(tx, { ticketHash: hashSecret(ticket), userId: user.id, email: user.verified_email, expiresAt });
        const link = new URL(`recover/complete?ticket=${encodeURIComponent(ticket)}`, config.http.public_base).href;
        await enqueueRecoveryLink(tx, config, user.verified_email, matrixUserId(user.username, config.matrix.homeserver), link, lang);
      }
    });
    // The same page whether or not the address belongs to anyone.
    page(res, 200, 'recover_sent', { email: typed, minutes: Math.round(config.account.recovery_ticket_ttl / 60) });
  });

  const renderPassword = (req: Request, res: Response, ticket: string, status: number, error?: Message) =>
    page(res, status, 'recover_password', { action: '/recover/complete', csrf: csrfToken(config, req, res, app.random), ticket, error });

  router.get('/recover/complete', async (req, res) => {
    const ticket = typeof req.query.ticket === 'string' ? req.query.ticket : '';
    const usable = ticket ? await registrations.findUsableRecoveryTicket(app.sql, hashSecret(ticket), app.clock.now()) : undefined;
    if (!usable) return linkUnusable(res);
    if ((await users.findById(app.sql, usable.user_id))?.password_source === 'directory') return directoryAccount(res);
    renderPassword(req, res, ticket, 200);
  });

  router.post('/recover/complete', form, async (req, res) => {
    const ticket = typeof req.body?.ticket === 'string' ? req.body.ticket : '';
    const password = typeof req.body?.password === 'string' ? req.body.password : '';
    const usable = ticket ? await registrations.findUsableRecoveryTicket(app.sql, hashSecret(ticket), app.clock.now()) : undefined;
    if (!usable) return linkUnusable(res);
    const user = await users.findById(app.sql, usable.user_id);
    if (!user || !users.isActive(user)) return linkUnusable(res);
    if (user.password_source === 'directory') return directoryAccount(res);
    if (!password) return renderPassword(req, res, ticket, 400, msg('errors.password.missing'));
    if (password !== req.body?.password_confirm) return renderPassword(req, res, ticket, 400, msg('errors.password.mismatch'));
    const weak = weakPasswordMessage(password, config.passwords.minimum_complexity, [user.username]);
    if (weak) return renderPassword(req, res, ticket, 400, weak);

    const hashed = await hasher.hash(password);
    const changed = await app.sql.begin(async (tx) => {
      const consumed = await registrations.consumeRecoveryTicket(tx, hashSecret(ticket), app.clock.now());
      if (!consumed) return undefined;
      // The other links mailed meanwhile, and codes for addresses still being added, were asked
      // for before the owner took the account back: none of them may be used after this.
      await registrations.consumeAllRecoveryTickets(tx, user.id);
      await registrations.dropPendingEmailCodes(tx, user.id);
      await users.setPassword(tx, { userId: user.id, hashedPassword: hashed.hash, version: hashed.version });
      return { grantIds: await endSessionsWithPassword(tx, user.id) };
    });
    if (!changed) return linkUnusable(res);
    await endGrantsNow(app, provider, user.id, changed.grantIds);
    page(res, 200, 'recover_done', { mxid: matrixUserId(user.username, config.matrix.homeserver) });
  });

  return router;
}
