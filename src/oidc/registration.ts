// Dynamic client registration (MSC2966) goes through MAS's registration policy before
// oidc-provider sees it; grant types Mauth does not offer are dropped silently, as MAS does, so
// clients that list the device code grant can still register while that grant is off. A banned
// requester (`requester` in the policy data) cannot register clients either: registration is
// anonymous, and MAS would refuse the same requester at the authorization grant anyway.
import type { NextFunction, Request, Response } from 'express';
import type { AppContext } from '../context.js';
import { evaluateClientRegistration } from '../policy/client-registration.js';
import { currentPolicyData } from '../policy/dynamic-data.js';
import { requesterViolation, requesterOf } from '../policy/requester.js';
import { DEVICE_CODE_GRANT } from './device-codes.js';

const SUPPORTED_GRANTS = ['authorization_code', 'refresh_token', 'client_credentials'];

export function registrationPolicy(app: AppContext) {
  const supported = new Set([...SUPPORTED_GRANTS, ...(app.config.oauth.device_code_grant_enabled ? [DEVICE_CODE_GRANT] : [])]);
  return async function checkRegistration(req: Request, res: Response, next: NextFunction): Promise<void> {
    const body = req.body as Record<string, unknown> | undefined;
    if (!req.is('application/json') || !body || typeof body !== 'object' || Array.isArray(body)) {
      res.status(400).json({ error: 'invalid_request', error_description: 'the body must be a JSON object' });
      return;
    }
    if (Array.isArray(body.grant_types)) {
      body.grant_types = body.grant_types.filter((g) => typeof g === 'string' && supported.has(g));
    }
    const data = await currentPolicyData(app);
    const banned = requesterViolation(requesterOf(req), data);
    if (banned) {
      app.log.info({ reason: banned.msg }, 'client registration refused by policy');
      // As MAS answers a refusal of its client registration policy.
      res.status(400).json({ error: 'invalid_client_metadata', error_description: banned.msg });
      return;
    }
    const violations = evaluateClientRegistration(body, data.client_registration);
    if (violations.length > 0) {
      const redirect = violations.find((v) => v.field === 'redirect_uris');
      res.status(400).json({
        error: redirect ? 'invalid_redirect_uri' : 'invalid_client_metadata',
        error_description: violations.map((v) => v.msg).join('; '),
      });
      return;
    }
    next();
  };
}
