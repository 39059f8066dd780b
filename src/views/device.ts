// The browser side of the device authorization grant, as MAS serves it: `/link` takes the code a
// device shows (rate limited per address, `rate_limiting.device_code_link`), and `/device/<id>`
// asks the signed-in user (signing in first, then coming back) whether that device may sign in
// to their account, with the new device named. Mounted only while the grant is enabled.
import express, { type Request, type Response, type Router } from 'express';
import { RateLimited, limit } from '../accounts/rate-limit.js';
import { addressBucket } from '../domain/client-address.js';
import { MAS_ADMIN_SCOPE, SYNAPSE_ADMIN_SCOPE, deviceOf, parseScope } from '../domain/scopes.js';
import { matrixUserId } from '../domain/usernames.js';
import {
  DEVICE_CODE_GRANT,
  approveDeviceGrant,
  confirmedUserCode,
  findDeviceGrant,
  findPendingByUserCode,
  isExpired,
  rejectDeviceGrant,
  type DeviceGrant,
} from '../oidc/device-codes.js';
import { LINK_ROUTE } from '../oidc/device-grant.js';
import { evaluateGrant, type GrantInput } from '../policy/authorization-grant.js';
import { currentPolicyData } from '../policy/dynamic-data.js';
import { requesterOf } from '../policy/requester.js';
import { countSessions } from '../policy/session-limit.js';
import type { User } from '../storage/users.js';
import { csrfToken, currentSession } from '../web/browser.js';
import { RouteError, asPage, routeHandler } from '../web/errors.js';
import { csrfForm } from '../web/forms.js';
import { msg, type Message } from '../web/i18n.js';
import type { ViewDeps } from './deps.js';
import { scopeLabel } from './interactions.js';
import { policyStop, sendPolicyStop } from './policy-violation.js';

const CONSENT_PREFIX = '/device/';

const consentPath = (grant: DeviceGrant, userCode?: string) => `${CONSENT_PREFIX}${grant.id}${userCode ? `?code=${userCode}` : ''}`;

export function deviceRouter({ app, provider, renderer }: ViewDeps): Router {
  const router = express.Router();
  const { config } = app;
  if (!config.oauth.device_code_grant_enabled) return router;
  const form = csrfForm(renderer);
  const html = asPage(renderer);

  const renderLink = (req: Request, res: Response, status: number, code = '', error?: Message) =>
    renderer.send(res, status, 'link', { action: LINK_ROUTE, csrf: csrfToken(config, req, res, app.random), code, error });
  /** Where the error pages below send the reader. */
  const anotherCode = () => ({ href: LINK_ROUTE, label: msg('errors.device.another_code') });

  /** Looks the typed code up (each attempt counts against the address) and moves on to its consent page. */
  async function enterCode(req: Request, res: Response, typed: string): Promise<void> {
    try {
      // Per /64 for IPv6: a client holding a whole network would otherwise guess without limit.
      await limit(app.sql, `device-link:ip:${addressBucket(req.ip)}`, config.rate_limiting.device_code_link);
    } catch (err) {
      if (!(err instanceof RateLimited)) throw err;
      const seconds = Math.ceil(err.retryAfterMs / 1000);
      res.set('Retry-After', String(seconds));
      return renderLink(req, res, 429, typed, msg('errors.device.code_rate_limited', { seconds }));
    }
    const grant = await findPendingByUserCode(app, typed);
    if (!grant) return renderLink(req, res, 400, typed, msg('errors.device.code_invalid'));
    // The code goes along, so that the consent page can show it next to the device's (RFC 8628 §5.4).
    res.redirect(303, consentPath(grant, confirmedUserCode(app, grant, typed)));
  }

  router.get(LINK_ROUTE, async (req, res) => {
    // MAS's auto-fill: the code in the link only counts when the operator turned it on.
    const code = typeof req.query.code === 'string' ? req.query.code : '';
    if (code && config.oauth.device_code_user_code_auto_fill_enabled) return enterCode(req, res, code);
    renderLink(req, res, 200);
  });

  router.post(LINK_ROUTE, form, async (req, res) => {
    const typed = typeof req.body?.code === 'string' ? req.body.code.trim() : '';
    if (!typed) return renderLink(req, res, 400, '', msg('errors.device.code_missing'));
    await enterCode(req, res, typed);
  });

  async function clientView(clientId: string) {
    const client = await provider.Client.find(clientId);
    if (!client) throw new RouteError(404, 'unknown_client', msg('errors.device.unknown_client'), { title: msg('errors.request_cannot_continue') });
    return { name: client.clientName ?? clientId, uri: client.clientUri, tos_uri: client.tosUri, policy_uri: client.policyUri };
  }

  /** The grant of `/device/<id>` while it can still be decided or shown. */
  async function loadGrant(id: string): Promise<DeviceGrant> {
    const grant = await findDeviceGrant(app, id);
    const link = anotherCode();
    if (!grant) throw new RouteError(404, 'unknown_device_grant', msg('errors.device.not_found'), { title: msg('errors.not_found_title'), link });
    if (grant.state === 'pending' && isExpired(app, grant)) {
      throw new RouteError(400, 'expired_device_grant', msg('errors.device.expired'), { title: msg('errors.device.expired_title'), link });
    }
    return grant;
  }

  /** The authorization grant policy, for the user deciding in this browser (its requester and sessions). */
  async function violations(req: Request, grant: DeviceGrant, user: User) {
    const data = await currentPolicyData(app);
    const input: GrantInput = { scopes: parseScope(grant.scope), grantType: DEVICE_CODE_GRANT, user, requester: requesterOf(req), sessionCounts: await countSessions(app.sql, user.id, data) };
    return evaluateGrant(input, data);
  }

  async function renderConsent(req: Request, res: Response, grant: DeviceGrant, user: User, status = 200, error?: Message) {
    // The outcome page says whose account the device signs in to: only its decider may see it.
    if (grant.state !== 'pending' && grant.user_id !== user.id) {
      throw new RouteError(409, 'device_grant_decided', msg('errors.device.decided'), { title: msg('errors.device.decided_title'), link: anotherCode() });
    }
    const scopes = parseScope(grant.scope);
    const userCode = confirmedUserCode(app, grant, req.query.code);
    const refused = grant.state === 'pending' ? await violations(req, grant, user) : [];
    const stop = policyStop(refused);
    if (stop) {
      const client = await clientView(grant.client_id);
      return sendPolicyStop(renderer, res, status, stop, {
        client,
        user: { mxid: matrixUserId(user.username, config.matrix.homeserver) },
        cancel: { action: `${CONSENT_PREFIX}${grant.id}`, csrf: csrfToken(config, req, res, app.random), kind: 'device' },
        retryUrl: `${CONSENT_PREFIX}${grant.id}`,
      });
    }
    const adminRefused = refused.some((v) => v.scope === SYNAPSE_ADMIN_SCOPE || v.scope === MAS_ADMIN_SCOPE);
    renderer.send(res, status, 'device_consent', {
      action: consentPath(grant, userCode),
      csrf: csrfToken(config, req, res, app.random),
      user_code: userCode,
      state: grant.state,
      client: await clientView(grant.client_id),
      user: { username: user.username, mxid: matrixUserId(user.username, config.matrix.homeserver) },
      device: { id: deviceOf(scopes), ip_address: grant.ip_address, user_agent: grant.user_agent, requested_at: grant.created_at.toISOString() },
      scopes: scopes.map(scopeLabel),
      error,
      refusal: refused.length
        ? adminRefused
          ? msg('device_consent.refused_admin')
          : msg('consent.refused', { reasons: refused.map((v) => v.msg).join('; ') })
        : undefined,
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
      if ((await violations(req, grant, user)).length > 0) {
        throw new RouteError(403, 'access_denied', msg('errors.device.cannot_allow'), { title: msg('errors.device.cannot_allow_title') });
      }
      if (req.body?.confirm_device === undefined) {
        return renderConsent(req, res, grant, user, 400, msg('errors.device.confirm_required'));
      }
      await approveDeviceGrant(app, provider, grant, decider);
    } else {
      throw new RouteError(400, 'invalid_action', msg('errors.device.choose_action'));
    }
    // Decided here or by a concurrent request: show whatever it became.
    await renderConsent(req, res, await loadGrant(grant.id), user);
  }));

  return router;
}
