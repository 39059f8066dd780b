// The HTML side of an authorization request: the login form and the consent page that
// oidc-provider sends the browser to (`/interaction/:uid`).
import { matrixUserId } from '../domain/usernames.js';
import express, { type Request, type Response, type Router } from 'express';
import type { OidcProvider } from '../oidc/provider.js';
import type { ViewDeps } from './deps.js';
import { SYNAPSE_ADMIN_SCOPE, MAS_ADMIN_SCOPE, deviceIdOf, parseScope } from '../domain/scopes.js';
import { evaluateGrant } from '../policy/authorization-grant.js';
import { currentPolicyData } from '../policy/dynamic-data.js';
import { requesterOf } from '../policy/requester.js';
import { countSessions } from '../policy/session-limit.js';
import { policyStop, sendPolicyStop } from './policy-violation.js';
import * as users from '../storage/users.js';
import { csrfToken, currentSession, startSession } from '../web/browser.js';
import { loginErrorMessage, loginErrorStatus } from './login.js';
import { authenticatePassword } from '../accounts/authenticate.js';
import { MATRIX_SCOPE_PARAM } from '../oidc/provider.js';
import { loginButtons } from '../upstream/providers.js';
import { csrfForm } from '../web/forms.js';
import { msg, type Message } from '../web/i18n.js';

export function scopeLabel(scope: string): { label: Message; admin: boolean } {
  if (scope === 'openid') return { label: msg('scope.openid'), admin: false };
  if (scope === 'email') return { label: msg('scope.email'), admin: false };
  if (scope === SYNAPSE_ADMIN_SCOPE) return { label: msg('scope.synapse_admin'), admin: true };
  if (scope === MAS_ADMIN_SCOPE) return { label: msg('scope.mas_admin'), admin: true };
  if (scope.endsWith(':client:api:*')) return { label: msg('scope.client_api'), admin: false };
  const device = deviceIdOf(scope);
  if (device !== undefined) return { label: msg('scope.device', { device }), admin: false };
  return { label: msg('scope.other', { scope }), admin: false };
}

export function interactionRouter({ app, provider, renderer, hasher, limiter, directory }: ViewDeps): Router {
  const router = express.Router();
  const form = csrfForm(renderer);

  const page = renderer.send;

  async function clientView(clientId: string) {
    const client = await provider.Client.find(clientId);
    return {
      name: client?.clientName ?? clientId,
      uri: client?.clientUri,
      tos_uri: client?.tosUri,
      policy_uri: client?.policyUri,
    };
  }

  async function details(req: Request, res: Response) {
    try {
      return await provider.interactionDetails(req, res);
    } catch {
      page(res, 400, 'error', {
        title: msg('errors.interaction.expired_title'),
        message: msg('errors.interaction.expired'),
        code: 'invalid_interaction',
      });
      return undefined;
    }
  }

  async function renderLogin(req: Request, res: Response, uid: string, status = 200, error?: Message | string, username?: string) {
    const interaction = await provider.Interaction.find(uid);
    const params = (interaction?.params ?? {}) as Record<string, string | undefined>;
    const hint = params.login_hint?.startsWith('mxid:') ? params.login_hint.slice(5) : undefined;
    page(res, status, 'login', {
      action: `/interaction/${uid}/login`,
      cancel_action: `/interaction/${uid}/abort`,
      csrf: csrfToken(app.config, req, res, app.random),
      client: params.client_id ? await clientView(params.client_id) : undefined,
      username: username ?? hint ?? '',
      error,
      passwords_enabled: app.config.passwords.enabled,
      upstream_providers: loginButtons(app.config, `/interaction/${uid}`),
      registration_url: app.config.account.password_registration_enabled
        ? `/register?next=${encodeURIComponent(`/interaction/${uid}`)}`
        : undefined,
      recovery_url: app.config.account.password_recovery_enabled ? '/recover' : undefined,
    });
  }

  router.get('/interaction/:uid', async (req, res) => {
    const d = await details(req, res);
    if (!d) return;
    const uid = String(req.params.uid);
    if (d.prompt.name === 'create') {
      // prompt=create: registration first (or /login from there); either signs the browser in
      // and comes back here with `signed_in=1`.
      const browser = await currentSession(app, req);
      if (browser && req.query.signed_in === '1') {
        await provider.interactionFinished(req, res, { login: { accountId: browser.user.id }, create: {} }, { mergeWithLastSubmission: false });
        return;
      }
      res.redirect(303, `/register?next=${encodeURIComponent(`/interaction/${uid}?signed_in=1`)}`);
      return;
    }
    if (d.prompt.name === 'login') {
      const browser = await currentSession(app, req);
      const forced = d.prompt.reasons.includes('login_prompt') || d.prompt.reasons.includes('max_age');
      if (browser && !forced) {
        await provider.interactionFinished(req, res, { login: { accountId: browser.user.id } }, { mergeWithLastSubmission: false });
        return;
      }
      await renderLogin(req, res, uid);
      return;
    }
    if (d.prompt.name === 'consent') {
      await renderConsent(req, res, uid, d);
      return;
    }
    page(res, 400, 'error', { message: msg('errors.interaction.unsupported_step', { step: d.prompt.name }), code: 'unsupported_prompt' });
  });

  router.post('/interaction/:uid/login', form, async (req, res) => {
    const d = await details(req, res);
    if (!d) return;
    const uid = String(req.params.uid);
    const username = typeof req.body?.username === 'string' ? req.body.username : '';
    const password = typeof req.body?.password === 'string' ? req.body.password : '';
    if (!username || !password) return renderLogin(req, res, uid, 400, msg('errors.login.missing'), username);
    const outcome = await authenticatePassword(app, { hasher, limiter, directory }, { kind: 'user', name: username }, password, req.ip);
    if (!outcome.ok) return renderLogin(req, res, uid, loginErrorStatus(outcome, res), loginErrorMessage(outcome), username);
    await startSession(app, req, res, outcome.user.id);
    const result = { login: { accountId: outcome.user.id }, ...(d.prompt.name === 'create' ? { create: {} } : {}) };
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  });

  router.post('/interaction/:uid/abort', form, async (req, res) => {
    const d = await details(req, res);
    if (!d) return;
    await provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'the user cancelled the sign-in' },
      { mergeWithLastSubmission: false },
    );
  });

  async function consentState(req: Request, d: Awaited<ReturnType<OidcProvider['interactionDetails']>>) {
    const accountId = d.session?.accountId;
    const user = accountId ? await users.findById(app.sql, accountId) : undefined;
    // The whole requested scope (see MATRIX_SCOPE_PARAM), which oidc-provider's `scope` lacks.
    const scopes = parseScope(String(d.params[MATRIX_SCOPE_PARAM] ?? d.params.scope ?? ''));
    const data = await currentPolicyData(app);
    const violations = user
      ? evaluateGrant({ scopes, grantType: 'authorization_code', user, requester: requesterOf(req), sessionCounts: await countSessions(app.sql, user.id, data) }, data)
      : [{ msg: 'not signed in' }];
    return { user, scopes, violations };
  }

  async function renderConsent(req: Request, res: Response, uid: string, d: Awaited<ReturnType<OidcProvider['interactionDetails']>>) {
    const { user, scopes, violations } = await consentState(req, d);
    if (!user || !users.isActive(user)) {
      return page(res, 403, 'error', { message: msg('errors.login.cannot_sign_in'), code: 'access_denied' });
    }
    // A banned requester, or the session limit: MAS's policy violation page (answered 200, as MAS does).
    const stop = policyStop(violations);
    if (stop) {
      return sendPolicyStop(renderer, res, 200, stop, {
        client: await clientView(String(d.params.client_id)),
        user: { mxid: matrixUserId(user.username, app.config.matrix.homeserver) },
        cancel: { action: `/interaction/${uid}/consent`, csrf: csrfToken(app.config, req, res, app.random), kind: 'authorization' },
        retryUrl: `/interaction/${uid}`,
      });
    }
    const adminRefused = violations.some((v) => v.scope === SYNAPSE_ADMIN_SCOPE || v.scope === MAS_ADMIN_SCOPE);
    page(res, 200, 'consent', {
      action: `/interaction/${uid}/consent`,
      csrf: csrfToken(app.config, req, res, app.random),
      client: await clientView(String(d.params.client_id)),
      redirect_uri: d.params.redirect_uri,
      user: { username: user.username, mxid: matrixUserId(user.username, app.config.matrix.homeserver) },
      scopes: scopes.map(scopeLabel),
      refusal: violations.length
        ? adminRefused
          ? msg('consent.refused_admin')
          : msg('consent.refused', { reasons: violations.map((v) => v.msg).join('; ') })
        : undefined,
    });
  }

  router.post('/interaction/:uid/consent', form, async (req, res) => {
    const d = await details(req, res);
    if (!d) return;
    if (d.prompt.name !== 'consent') return page(res, 400, 'error', { message: msg('errors.interaction.nothing_to_consent'), code: 'invalid_interaction' });
    const { user, scopes, violations } = await consentState(req, d);
    if (req.body?.decision !== 'allow' || !user || !users.isActive(user) || violations.length > 0) {
      const description = violations.length ? violations.map((v) => v.msg).join('; ') : 'the user denied the request';
      await provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: description },
        { mergeWithLastSubmission: true },
      );
      return;
    }
    const grant = new provider.Grant({ accountId: user.id, clientId: String(d.params.client_id) });
    grant.addOIDCScope(scopes.join(' '));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  });

  return router;
}
