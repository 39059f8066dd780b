// The browser side of the device authorization grant, as MAS serves it: `/link` takes the code a
// device shows (rate limited per address, `rate_limiting.device_code_link`), and `/device/<id>`
// asks the signed-in user (signing in first, then coming back) whether that device may sign in
// to their account, with the new device named. Mounted only while the grant is enabled.
import express, { type Request, type Response, type Router } from 'express';
import { RateLimited, limit } from '../accounts/rate-limit.js';
import { MAS_ADMIN_SCOPE, SYNAPSE_ADMIN_SCOPE, deviceOf, parseScope } from '../domain/scopes.js';
import { matrixUserId } from '../domain/usernames.js';
import {
  DEVICE_CODE_GRANT,
  approveDeviceGrant,
  findDeviceGrant,
  findPendingByUserCode,
  isExpired,
  rejectDeviceGrant,
  type DeviceGrant,
} from '../oidc/device-codes.js';
import { LINK_ROUTE } from '../oidc/device-grant.js';
import { evaluateGrant } from '../policy/authorization-grant.js';
import type { User } from '../storage/users.js';
import { csrfToken, currentSession } from '../web/browser.js';
import { RouteError, asPage, routeHandler } from '../web/errors.js';
import { csrfForm } from '../web/forms.js';
import type { ViewDeps } from './deps.js';
import { scopeLabel } from './interactions.js';

const CONSENT_PREFIX = '/device/';

export function deviceRouter({ app, provider, renderer }: ViewDeps): Router {
  const router = express.Router();
  const { config } = app;
  if (!config.oauth.device_code_grant_enabled) return router;
  const form = csrfForm(renderer);
  const html = asPage(renderer);

  /** `error` names the problem; the template says it. */
  const renderLink = (req: Request, res: Response, status: number, code = '', error?: 'missing' | 'invalid' | 'rate_limited', retryAfter?: number) =>
    renderer.send(res, status, 'link', { action: LINK_ROUTE, csrf: csrfToken(config, req, res, app.random), code, error, retry_after: retryAfter });

  /** Looks the typed code up (each attempt counts against the address) and moves on to its consent page. */
  async function enterCode(req: Request, res: Response, typed: string): Promise<void> {
    try {
      await limit(app.sql, `device-link:ip:${req.ip ?? 'unknown'}`, config.rate_limiting.device_code_link);
    } catch (err) {
      if (!(err instanceof RateLimited)) throw err;
      const seconds = Math.ceil(err.retryAfterMs / 1000);
      res.set('Retry-After', String(seconds));
      return renderLink(req, res, 429, typed, 'rate_limited', seconds);
    }
    const grant = await findPendingByUserCode(app, typed);
    if (!grant) return renderLink(req, res, 400, typed, 'invalid');
    res.redirect(303, `${CONSENT_PREFIX}${grant.id}`);
  }

  router.get(LINK_ROUTE, async (req, res) => {
    // MAS's auto-fill: the code in the link only counts when the operator turned it on.
    const code = typeof req.query.code === 'string' ? req.query.code : '';
    if (code && config.oauth.device_code_user_code_auto_fill_enabled) return enterCode(req, res, code);
    renderLink(req, res, 200);
  });

  router.post(LINK_ROUTE, form, async (req, res) => {
    const typed = typeof req.body?.code === 'string' ? req.body.code.trim() : '';
    if (!typed) return renderLink(req, res, 400, '', 'missing');
    await enterCode(req, res, typed);
  });

  async function clientView(clientId: string) {
    const client = await provider.Client.find(clientId);
    if (!client) throw new RouteError(404, 'unknown_client', 'The app that asked for this sign-in no longer exists.', { title: 'This request cannot continue' });
    return { name: client.clientName ?? clientId, uri: client.clientUri, tos_uri: client.tosUri, policy_uri: client.policyUri };
  }

  /** The grant of `/device/<id>` while it can still be decided or shown. */
  async function loadGrant(id: string): Promise<DeviceGrant> {
    const grant = await findDeviceGrant(app, id);
    const link = { href: LINK_ROUTE, label: 'Enter another code' };
    if (!grant) throw new RouteError(404, 'unknown_device_grant', 'There is no such sign-in request.', { title: 'Not found', link });
    if (grant.state === 'pending' && isExpired(app, grant)) {
      throw new RouteError(400, 'expired_device_grant', 'This sign-in request has expired. Start again on your device.', { title: 'Request expired', link });
    }
    return grant;
  }

  function violations(grant: DeviceGrant, user: User) {
    return evaluateGrant({
      scopes: parseScope(grant.scope),
      grantType: DEVICE_CODE_GRANT,
      user,
      adminUsers: (config.policy.data.admin_users as string[] | undefined) ?? [],
    });
  }

  async function renderConsent(req: Request, res: Response, grant: DeviceGrant, user: User, status = 200, error?: 'confirm_required') {
    const scopes = parseScope(grant.scope);
    const refused = violations(grant, user);
    const adminRefused = refused.some((v) => v.scope === SYNAPSE_ADMIN_SCOPE || v.scope === MAS_ADMIN_SCOPE);
    renderer.send(res, status, 'device_consent', {
      action: `${CONSENT_PREFIX}${grant.id}`,
      csrf: csrfToken(config, req, res, app.random),
      state: grant.state,
      client: await clientView(grant.client_id),
      user: { username: user.username, mxid: matrixUserId(user.username, config.matrix.homeserver) },
      device: { id: deviceOf(scopes), ip_address: grant.ip_address, user_agent: grant.user_agent, requested_at: grant.created_at.toISOString() },
      scopes: scopes.map(scopeLabel),
      error,
      refusal: refused.length ? { admin: adminRefused, reasons: refused.map((v) => v.msg).join('; ') } : undefined,
    });
  }

  const signIn = (req: Request, res: Response) => res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);

  router.get(`${CONSENT_PREFIX}:id`, routeHandler(html, async (req, res) => {
    const browser = await currentSession(app, req);
    if (!browser) return signIn(req, res);
    await renderConsent(req, res, await loadGrant(String(req.params.id)), browser.user);
  }));

  router.post(`${CONSENT_PREFIX}:id`, form, routeHandler(html, async (req, res) => {
    const browser = await currentSession(app, req);
    if (!browser) return signIn(req, res);
    const { user } = browser;
    const grant = await loadGrant(String(req.params.id));
    // A decided request (a form sent twice) shows its outcome again.
    if (grant.state !== 'pending') return renderConsent(req, res, grant, user);
    const decider = { userId: user.id, browserSessionId: browser.session.id };
    const action = req.body?.action;
    if (action === 'reject') {
      await rejectDeviceGrant(app, grant, decider);
    } else if (action === 'consent') {
      if (violations(grant, user).length > 0) {
        throw new RouteError(403, 'access_denied', 'Your account cannot allow this request.', { title: 'This request cannot be allowed' });
      }
      if (req.body?.confirm_device === undefined) {
        return renderConsent(req, res, grant, user, 400, 'confirm_required');
      }
      await approveDeviceGrant(app, provider, grant, decider);
    } else {
      throw new RouteError(400, 'invalid_action', 'Choose to allow or deny the request.');
    }
    // Decided here or by a concurrent request: show whatever it became.
    await renderConsent(req, res, await loadGrant(grant.id), user);
  }));

  return router;
}
