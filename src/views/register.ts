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
import { checkStrength } from '../accounts/password-strength.js';
import { parseEmailAddress } from '../domain/email-address.js';
import { hashSecret } from '../domain/tokens.js';
import { csrfToken, startSession, safeNext } from '../web/browser.js';
import { RateLimited, limit } from '../accounts/rate-limit.js';
import { evaluateRegistration, type RegisterPolicyData } from '../policy/register.js';
import { currentPolicyData } from '../policy/dynamic-data.js';
import * as registrations from '../storage/registrations.js';
import * as users from '../storage/users.js';
import { RouteError, asPage } from '../web/errors.js';
import { csrfForm } from '../web/forms.js';

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
      title: 'This registration is over',
      message: 'It was completed, abandoned or has expired.',
      code: 'registration_not_found',
      link: { href: '/register', label: 'Start again' },
    });

  router.use(['/register', '/register/*rest'], (_req, res, next) => {
    if (!config.account.password_registration_enabled) {
      page(res, 404, 'error', { title: 'Registration is closed', message: 'Accounts cannot be created here.', code: 'registration_disabled' });
      return;
    }
    next();
  });

  const renderForm = (req: Request, res: Response, status: number, values: Record<string, string>, errors: Record<string, string> = {}) =>
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
    const errors: Record<string, string> = {};
    let homeserverDown = false; // not the user's mistake: 503 and Retry-After, as the other endpoints answer

    for (const v of evaluateRegistration(
      { username, email: email || undefined, emailRequired: config.account.password_registration_email_required, serverName: config.matrix.homeserver },
      (await currentPolicyData(app)) as RegisterPolicyData,
    )) {
      errors[v.field ?? 'form'] ??= v.msg;
    }
    if (!errors.username) {
      // Each look-up tells whether a name exists (here or on the homeserver): limited per IP first.
      try {
        await limit(app.sql, `username-availability:ip:${req.ip ?? 'unknown'}`, config.rate_limiting.username_availability);
      } catch (err) {
        if (!(err instanceof RateLimited)) throw err;
        res.set('Retry-After', String(Math.ceil(err.retryAfterMs / 1000)));
        return renderForm(req, res, 429, values, { form: 'Too many attempts from your network. Try again later.' });
      }
      if (await users.findByUsername(app.sql, username)) errors.username = 'This username is taken.';
      else {
        const available = await app.homeserver.isLocalpartAvailable(username).catch((err: unknown) => void app.log.warn({ err }, 'homeserver unavailable'));
        homeserverDown = !available;
        if (!available) errors.form = 'The homeserver could not be reached. Try again in a moment.';
        else if (!available.available) {
          errors.username = available.errcode === 'M_USER_IN_USE' ? 'This username is taken.' : 'This username cannot be used.';
        }
      }
    }
    if (!password) errors.password = 'Choose a password.';
    else if (password !== field(req, 'password_confirm')) errors.password_confirm = 'The passwords do not match.';
    else {
      const strength = checkStrength(password, config.passwords.minimum_complexity, [username, email]);
      if (!strength.ok) errors.password = `This password is too weak.${strength.hint ? ` ${strength.hint}` : ''}`;
    }
    if (config.branding.tos_uri && req.body?.accept_terms !== 'on') errors.accept_terms = 'Accept the terms of service to continue.';
    if (Object.keys(errors).length === 0 && !(await verifyCaptcha(config.captcha, req.body ?? {}, req.ip))) {
      errors.captcha = 'The CAPTCHA was not solved. Try again.';
    }
    if (Object.keys(errors).length > 0) return renderForm(req, homeserverDown ? res.set('Retry-After', '5') : res, homeserverDown ? 503 : 400, values, errors);

    try {
      await limit(app.sql, `registration:ip:${req.ip ?? 'unknown'}`, config.rate_limiting.registration);
    } catch (err) {
      if (!(err instanceof RateLimited)) throw err;
      res.set('Retry-After', String(Math.ceil(err.retryAfterMs / 1000)));
      return renderForm(req, res, 429, values, { form: 'Too many registrations from your network. Try again later.' });
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
  /** Ends a registration that cannot go on, and says why. */
  async function abandon(res: Response, id: string, err: RouteError) {
    await registrations.abandon(app.sql, id);
    asPage(renderer)(res, err);
  }
  const stopped = (status: number, code: string, title: string, message: string) =>
    new RouteError(status, code, message, { title, link: { href: '/register', label: 'Start again' } });

  // --- registration token ---
  const renderToken = (req: Request, res: Response, secret: string, status: number, error?: string) =>
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
    if (!usable) return renderToken(req, res, found.secret, 400, 'This registration token is not valid, or can no longer be used.');
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
    res.set('Retry-After', String(Math.ceil(err.retryAfterMs / 1000)));
    return `Too many e-mails. Try again in ${Math.ceil(err.retryAfterMs / 1000)} seconds.`;
  };

  router.get('/register/steps/:secret/verify-email', async (req, res) => {
    const found = await open(req, res);
    if (!found) return;
    const { registration, secret } = found;
    if (!registration.email || registration.email_verified_at) return res.redirect(303, nextStep(secret, registration));
    if (!(await registrations.emailAuthenticationForRegistration(app.sql, registration.id))) {
      try {
        await startEmailAuthentication(app, { email: registration.email, registrationId: registration.id, ip: req.ip });
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
        await resendCode(app, auth, req.ip);
      } catch (err) {
        if (!(err instanceof RateLimited)) throw err;
        return renderVerify(req, res, secret, registration.email, 429, { error: limited(res, err) });
      }
      return renderVerify(req, res, secret, registration.email, 200, { notice: 'A new code is on its way.' });
    }
    const outcome = await verifyCode(app, auth, field(req, 'code'));
    switch (outcome) {
      case 'valid':
        await registrations.markEmailVerified(app.sql, registration.id);
        return res.redirect(303, nextStep(secret, { ...registration, email_verified_at: app.clock.now() }));
      case 'expired':
        return renderVerify(req, res, secret, registration.email, 400, { error: 'This code has expired. Send yourself a new one.', expired: true });
      case 'too_many_attempts':
        return abandon(res, registration.id, stopped(429, 'too_many_attempts', 'Too many wrong codes',
          'For your safety this registration was stopped. Start again to get a new code.'));
      default:
        return renderVerify(req, res, secret, registration.email, 400, { error: 'That code is not right. Check the e-mail and try again.' });
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
          throw stopped(403, 'registration_token_used_up', 'The registration token can no longer be used',
            'It reached its usage limit or expired while you registered.');
        }
        if (!(await registrations.complete(tx, registration.id, created.id))) throw new users.UsernameTakenError(registration.username);
        return created;
      });
    } catch (err) {
      if (err instanceof users.UsernameTakenError) {
        return abandon(res, registration.id, stopped(409, 'username_taken', 'This username was just taken',
          `Someone registered ${registration.username} a moment ago. Start again with another username.`));
      }
      if (err instanceof RouteError) return abandon(res, registration.id, err);
      throw err;
    }
    await startSession(app, req, res, user.id);
    res.redirect(303, safeNext(registration.next));
  });

  return router;
}
