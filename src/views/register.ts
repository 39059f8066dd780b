// Password registration (`account.password_registration_enabled`), step by step:
//   /register                              username, e-mail, password, terms, CAPTCHA
//   /register/steps/:secret/token          registration token (registration_token_required)
//   /register/steps/:secret/verify-email   6-digit code mailed to the address
//   /register/steps/:secret/display-name   optional display name
// then the account is created in one transaction and the browser continues where it came from.
// The secret in the step URLs is random; only its hash is stored.
import express, { type Request, type Response, type Router } from 'express';
import type { ViewDeps } from './deps.js';
import { captchaWidget, verifyCaptcha } from '../accounts/captcha.js';
import { createAccount } from '../accounts/create-account.js';
import { resendCode, startEmailAuthentication, verifyCode } from '../accounts/email-verification.js';
import { parseEmailAddress } from '../domain/email-address.js';
import { hashSecret } from '../domain/tokens.js';
import { csrfToken, startSession, safeNext } from '../web/browser.js';
import { RateLimited, limit } from '../accounts/rate-limit.js';
import { evaluateRegistration } from '../policy/register.js';
import { requesterOf } from '../policy/requester.js';
import { currentPolicyData } from '../policy/dynamic-data.js';
import * as registrations from '../storage/registrations.js';
import * as users from '../storage/users.js';
import { RouteError, asPage } from '../web/errors.js';
import { csrfForm } from '../web/forms.js';
import { msg, type Message } from '../web/i18n.js';
import { violationMessage, weakPasswordMessage } from './form-messages.js';

const MAX_DISPLAY_NAME = 256;

function field(req: Request, name: string): string {
  const value = req.body?.[name];
  return typeof value === 'string' ? value : '';
}

export function registrationRouter(deps: ViewDeps): Router {
  const { app, renderer, hasher } = deps;
  const { config } = app;
  const router = express.Router();
  const form = csrfForm(renderer);

  const page = renderer.send;
  const stepGone = (res: Response) =>
    page(res, 404, 'error', {
      title: msg('errors.registration.over_title'),
      message: msg('errors.registration.over'),
      code: 'registration_not_found',
      link: { href: '/register', label: msg('common.start_again') },
    });

  router.use(['/register', '/register/*rest'], (_req, res, next) => {
    if (!config.account.password_registration_enabled) {
      page(res, 404, 'error', { title: msg('errors.registration.closed_title'), message: msg('errors.registration.closed'), code: 'registration_disabled' });
      return;
    }
    next();
  });

  const renderForm = (req: Request, res: Response, status: number, values: Record<string, string>, errors: Record<string, Message> = {}) =>
    page(res, status, 'register', {
      action: `/register?next=${encodeURIComponent(safeNext(req.query.next))}`,
      login_url: `/login?next=${encodeURIComponent(safeNext(req.query.next))}`,
      csrf: csrfToken(config, req, res),
      values,
      errors,
      email_required: config.account.password_registration_email_required,
      tos_uri: config.branding.tos_uri,
      captcha: captchaWidget(config.captcha),
    });

  router.get('/register', (req, res) => renderForm(req, res, 200, {}));

  router.post('/register', form, async (req, res) => {
    const username = field(req, 'username').trim().toLowerCase();
    const email = field(req, 'email').trim();
    const password = field(req, 'password');
    const values = { username, email };
    const errors: Record<string, Message> = {};
    let homeserverDown = false; // not the user's mistake: 503 and Retry-After, as the other endpoints answer

    const input = { username, email: email || undefined, emailRequired: config.account.password_registration_email_required, requester: requesterOf(req), serverName: config.matrix.homeserver };
    for (const v of evaluateRegistration(input, await currentPolicyData(app))) {
      errors[v.field ?? 'form'] ??= violationMessage(v, input);
    }
    if (!errors.username) {
      // Each look-up tells whether a name exists (here or on the homeserver): limited per IP first.
      try {
        await limit(app.sql, `username-availability:ip:${req.ip ?? 'unknown'}`, config.rate_limiting.username_availability);
      } catch (err) {
        if (!(err instanceof RateLimited)) throw err;
        res.set('Retry-After', String(Math.ceil(err.retryAfterMs / 1000)));
        return renderForm(req, res, 429, values, { form: msg('errors.too_many_attempts_network') });
      }
      if (await users.findByUsername(app.sql, username)) errors.username = msg('errors.registration.username_taken');
      else {
        const available = await app.homeserver.isLocalpartAvailable(username).catch((err: unknown) => void app.log.warn({ err }, 'homeserver unavailable'));
        homeserverDown = !available;
        if (!available) errors.form = msg('errors.homeserver_unavailable');
        else if (!available.available) {
          errors.username = msg(available.errcode === 'M_USER_IN_USE' ? 'errors.registration.username_taken' : 'errors.registration.username_unusable');
        }
      }
    }
    if (!password) errors.password = msg('errors.password.missing');
    else if (password !== field(req, 'password_confirm')) errors.password_confirm = msg('errors.password.mismatch');
    else {
      const weak = weakPasswordMessage(password, config.passwords.minimum_complexity, [username, email]);
      if (weak) errors.password = weak;
    }
    if (config.branding.tos_uri && req.body?.accept_terms !== 'on') errors.accept_terms = msg('errors.registration.accept_terms');
    if (Object.keys(errors).length === 0 && !(await verifyCaptcha(config.captcha, req.body ?? {}, req.ip))) {
      errors.captcha = msg('errors.registration.captcha');
    }
    if (Object.keys(errors).length > 0) return renderForm(req, homeserverDown ? res.set('Retry-After', '5') : res, homeserverDown ? 503 : 400, values, errors);

    // A busy answer must not cost the network one of its registrations: refused before counting.
    hasher.pool.refuseIfFull();
    try {
      await limit(app.sql, `registration:ip:${req.ip ?? 'unknown'}`, config.rate_limiting.registration);
    } catch (err) {
      if (!(err instanceof RateLimited)) throw err;
      res.set('Retry-After', String(Math.ceil(err.retryAfterMs / 1000)));
      return renderForm(req, res, 429, values, { form: msg('errors.registration.too_many') });
    }

    const parsedEmail = email ? parseEmailAddress(email) : undefined;
    const hashed = await hasher.hash(password);
    const secret = app.random.bytes(24).toString('base64url');
    const registration = await registrations.createRegistration(app.sql, {
      secretHash: hashSecret(secret),
      username,
      hashedPassword: hashed.hash,
      passwordVersion: hashed.version,
      email: parsedEmail?.ok ? parsedEmail.value.address : null, // canonical: stored, mailed, sent on
      next: safeNext(req.query.next),
      ipAddress: req.ip,
      userAgent: req.get('user-agent')?.slice(0, 512),
      now: app.clock.now(),
    });
    res.redirect(303, nextStep(secret, registration));
  });

  function nextStep(secret: string, r: registrations.Registration): string {
    const base = `/register/steps/${secret}`;
    if (config.account.registration_token_required && !r.registration_token_id) return `${base}/token`;
    if (r.email && !r.email_verified_at) return `${base}/verify-email`;
    // The last step: submitting it creates the account.
    return `${base}/display-name`;
  }

  async function open(req: Request, res: Response) {
    const secret = String(req.params.secret);
    const registration = await registrations.findOpenRegistration(app.sql, hashSecret(secret), app.clock.now());
    if (!registration) {
      stepGone(res);
      return undefined;
    }
    return { secret, registration };
  }

  /** Ends a registration that cannot go on, and says why. */
  async function abandon(res: Response, id: string, err: RouteError) {
    await registrations.abandon(app.sql, id);
    asPage(renderer)(res, err);
  }
  const stopped = (status: number, code: string, title: Message, message: Message) =>
    new RouteError(status, code, message, { title, link: { href: '/register', label: msg('common.start_again') } });

  // --- registration token ---
  const renderToken = (req: Request, res: Response, secret: string, status: number, error?: Message) =>
    page(res, status, 'register_token', { action: `/register/steps/${secret}/token`, csrf: csrfToken(config, req, res), error });

  router.get('/register/steps/:secret/token', async (req, res) => {
    const found = await open(req, res);
    if (found) renderToken(req, res, found.secret, 200);
  });

  router.post('/register/steps/:secret/token', form, async (req, res) => {
    const found = await open(req, res);
    if (!found) return;
    const token = field(req, 'token').trim();
    const usable = token ? await registrations.findUsableRegistrationToken(app.sql, hashSecret(token), app.clock.now()) : undefined;
    if (!usable) return renderToken(req, res, found.secret, 400, msg('errors.registration.token_invalid'));
    await registrations.setRegistrationToken(app.sql, found.registration.id, usable.id);
    res.redirect(303, nextStep(found.secret, { ...found.registration, registration_token_id: usable.id }));
  });

  // --- e-mail code ---
  const renderVerify = (req: Request, res: Response, secret: string, email: string, status: number, extra: Record<string, unknown> = {}) =>
    page(res, status, 'verify_email', {
      action: `/register/steps/${secret}/verify-email`,
      csrf: csrfToken(config, req, res),
      email,
      minutes: Math.round(config.account.email_code_ttl / 60),
      ...extra,
    });

  const limited = (res: Response, err: RateLimited) => {
    const seconds = Math.ceil(err.retryAfterMs / 1000);
    res.set('Retry-After', String(seconds));
    return msg('errors.too_many_emails_seconds', { seconds });
  };

  router.get('/register/steps/:secret/verify-email', async (req, res) => {
    const found = await open(req, res);
    if (!found) return;
    const { registration, secret } = found;
    if (!registration.email || registration.email_verified_at) return res.redirect(303, nextStep(secret, registration));
    if (!(await registrations.emailAuthenticationForRegistration(app.sql, registration.id))) {
      try {
        await startEmailAuthentication(app, { email: registration.email, registrationId: registration.id, ip: req.ip, lang: renderer.i18n.languageOf(req) });
      } catch (err) {
        if (!(err instanceof RateLimited)) throw err;
        return renderVerify(req, res, secret, registration.email, 429, { error: limited(res, err) });
      }
    }
    renderVerify(req, res, secret, registration.email, 200);
  });

  router.post('/register/steps/:secret/verify-email', form, async (req, res) => {
    const found = await open(req, res);
    if (!found) return;
    const { registration, secret } = found;
    const auth = await registrations.emailAuthenticationForRegistration(app.sql, registration.id);
    if (!registration.email || !auth) return res.redirect(303, nextStep(secret, registration));
    if (req.body?.action === 'resend') {
      try {
        await resendCode(app, auth, req.ip, renderer.i18n.languageOf(req));
      } catch (err) {
        if (!(err instanceof RateLimited)) throw err;
        return renderVerify(req, res, secret, registration.email, 429, { error: limited(res, err) });
      }
      return renderVerify(req, res, secret, registration.email, 200, { notice: msg('errors.code_sent_again') });
    }
    const outcome = await verifyCode(app, auth, field(req, 'code'));
    switch (outcome) {
      case 'valid':
        await registrations.markEmailVerified(app.sql, registration.id);
        return res.redirect(303, nextStep(secret, { ...registration, email_verified_at: app.clock.now() }));
      case 'expired':
        return renderVerify(req, res, secret, registration.email, 400, { error: msg('errors.code_expired'), expired: true });
      case 'too_many_attempts':
        return abandon(res, registration.id, stopped(429, 'too_many_attempts', msg('errors.too_many_codes_title'), msg('errors.registration.stopped')));
      default:
        return renderVerify(req, res, secret, registration.email, 400, { error: msg('errors.code_wrong_check') });
    }
  });

  // --- display name ---
  router.get('/register/steps/:secret/display-name', async (req, res) => {
    const found = await open(req, res);
    if (!found) return;
    page(res, 200, 'register_display_name', {
      action: `/register/steps/${found.secret}/display-name`,
      csrf: csrfToken(config, req, res),
      username: found.registration.username,
    });
  });

  router.post('/register/steps/:secret/display-name', form, async (req, res) => {
    const found = await open(req, res);
    if (!found) return;
    const { secret } = found;
    const displayName = req.body?.action === 'skip' ? '' : field(req, 'display_name').trim().slice(0, MAX_DISPLAY_NAME);
    const registration = { ...found.registration, display_name: displayName };
    const pending = nextStep(secret, registration);
    if (!pending.endsWith('/display-name')) return res.redirect(303, pending);
    await registrations.setDisplayName(app.sql, registration.id, displayName);

    // The account, in one transaction with everything it starts with.
    let user: users.User;
    try {
      user = await app.sql.begin(async (tx) => {
        const { user: created } = await createAccount(tx, {
          username: registration.username,
          displayName: registration.display_name || null,
          password: { hash: registration.hashed_password, version: registration.password_version },
          emails: registration.email ? [{ address: registration.email, verified: true }] : [],
        });
        if (registration.registration_token_id && !(await registrations.useRegistrationToken(tx, registration.registration_token_id, app.clock.now()))) {
          // Thrown, not returned: the account created above must roll back with it.
          throw stopped(403, 'registration_token_used_up', msg('errors.registration.token_used_up_title'), msg('errors.registration.token_used_up'));
        }
        if (!(await registrations.complete(tx, registration.id, created.id))) throw new users.UsernameTakenError(registration.username);
        return created;
      });
    } catch (err) {
      if (err instanceof users.UsernameTakenError) {
        return abandon(res, registration.id, stopped(409, 'username_taken', msg('errors.registration.just_taken_title'),
          msg('errors.registration.just_taken', { username: registration.username })));
      }
      if (err instanceof RouteError) return abandon(res, registration.id, err);
      throw err;
    }
    await startSession(app, req, res, user.id);
    res.redirect(303, safeNext(registration.next));
  });

  return router;
}
