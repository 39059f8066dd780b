// `/account/`: the account management URL of the discovery document. Without `?action=` it is
// the home page (who is signed in, the sections); with one (MSC4191) it sends the browser on to
// the page the action names. A signed-out browser goes through the login page and comes back
// to the same URL, action included. `/account/profile`: the display name.
import express, { type Router } from 'express';
import { MAX_DISPLAY_NAME_LENGTH, changeDisplayName, checkDisplayName, type DisplayNameProblem } from '../../accounts/profile.js';
import { findSessionByDevice } from '../../accounts/user-sessions.js';
import { csrfForm } from '../../web/forms.js';
import { msg } from '../../web/i18n.js';
import type { ViewDeps } from '../deps.js';
import { accountPages, sectionAllowed, type AccountPages, type SignedIn } from './common.js';
import { parseDeepLink } from './deep-links.js';
import { renderSessionList } from './sessions.js';

const displayNameProblem = (problem: DisplayNameProblem) =>
  problem === 'too_long' ? msg('account_profile.too_long', { max: MAX_DISPLAY_NAME_LENGTH }) : msg('account_profile.control_characters');

export function homeRouter(deps: ViewDeps, pages: AccountPages = accountPages(deps)): Router {
  const { app } = deps;
  const router = express.Router();
  const form = csrfForm(deps.renderer);

  router.get('/account/', async (req, res) => {
    if (!req.path.endsWith('/')) {
      // `/account` (routes match with or without the slash): keep the query, a deep link's action.
      const query = req.originalUrl.indexOf('?');
      return res.redirect(301, `/account/${query >= 0 ? req.originalUrl.slice(query) : ''}`);
    }
    const current = await pages.signedIn(req, res);
    if (!current) return;
    const link = parseDeepLink(req.query);
    if (link.kind === 'page') return res.redirect(303, link.path);
    if (link.kind === 'device') {
      const found = await findSessionByDevice(app, current.user.id, link.deviceId);
      if (!found) return renderSessionList(deps, pages, req, res, current, 404, { missing_device: link.deviceId });
      return res.redirect(303, `/account/sessions/${found.kind}/${found.id}${link.end ? '/end' : ''}`);
    }
    pages.render(req, res, 200, 'account', current);
  });

  const renderProfile = (req: express.Request, res: express.Response, current: SignedIn, status = 200, extra: Record<string, unknown> = {}) =>
    pages.render(req, res, status, 'account_profile', current, { display_name: current.user.display_name ?? '', ...extra });

  router.get('/account/profile', async (req, res) => {
    const current = await pages.signedIn(req, res);
    if (current) renderProfile(req, res, current);
  });

  router.post('/account/profile', form, async (req, res) => {
    const current = await pages.signedIn(req, res, '/account/profile');
    if (!current) return;
    if (!sectionAllowed(app.config, 'displayname')) return pages.refuse(req, res, current, 'displayname');
    const typed = typeof req.body?.display_name === 'string' ? req.body.display_name : '';
    const checked = checkDisplayName(typed);
    if (!checked.ok) return renderProfile(req, res, current, 400, { display_name: typed, errors: { display_name: displayNameProblem(checked.problem) } });
    await changeDisplayName(app.sql, current.user.id, checked.value);
    const user = { ...current.user, display_name: checked.value };
    renderProfile(req, res, { ...current, user }, 200, { notice: msg('account_profile.saved') });
  });

  return router;
}
