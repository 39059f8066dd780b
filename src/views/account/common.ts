// What every account page shares: who is signed in (or the way to the login page and back), the
// sections this server offers (each `account.*_allowed` switch hides its own), the context every
// page renders with, and the refusal of a section that is switched off. Texts are in the
// message catalogues: the code hands the pages Messages (web/i18n.ts), or keys the templates name.
import type { Request, Response } from 'express';
import type { Config } from '../../config/types.js';
import { matrixUserId } from '../../domain/usernames.js';
import type { BrowserSession } from '../../storage/browser-sessions.js';
import type { User } from '../../storage/users.js';
import { csrfToken, currentSession } from '../../web/browser.js';
import type { ViewDeps } from '../deps.js';

export interface SignedIn {
  user: User;
  session: BrowserSession;
}

/** A section a switch can turn off; its pages answer 403 then. */
export type Section = 'displayname' | 'email' | 'password' | 'deactivation';

export function sectionAllowed(config: Config, section: Section): boolean {
  switch (section) {
    case 'displayname':
      return config.account.displayname_change_allowed;
    case 'email':
      return config.account.email_change_allowed;
    case 'password':
      return config.account.password_change_allowed && config.passwords.enabled;
    case 'deactivation':
      return config.account.account_deactivation_allowed;
  }
}

/** A time as `<time datetime>` carries it; the page writes it in its language (`datetime()` of web/render.ts). */
export function timeView(date: Date | null | undefined): string | undefined {
  return date ? date.toISOString() : undefined;
}

export function loginPath(back: string): string {
  return `/login?next=${encodeURIComponent(back)}`;
}

export function accountPages(deps: ViewDeps) {
  const { app, renderer } = deps;
  const { config } = app;

  /**
   * The signed-in user; otherwise the browser is sent to the login page, which comes back to
   * `back` (the page asked for, deep-link parameters included) and undefined is returned.
   */
  async function signedIn(req: Request, res: Response, back = req.originalUrl): Promise<SignedIn | undefined> {
    const current = await currentSession(app, req);
    if (!current) res.redirect(303, loginPath(back));
    return current;
  }

  function render(req: Request, res: Response, status: number, page: string, current: SignedIn, context: Record<string, unknown> = {}): void {
    renderer.send(res, status, page, {
      csrf: csrfToken(config, req, res, app.random),
      user: {
        mxid: matrixUserId(current.user.username, config.matrix.homeserver),
        username: current.user.username,
        password_source: current.user.password_source,
        display_name: current.user.display_name,
      },
      sections: {
        displayname: sectionAllowed(config, 'displayname'),
        email: sectionAllowed(config, 'email'),
        password: sectionAllowed(config, 'password'),
        deactivation: sectionAllowed(config, 'deactivation'),
      },
      ...context,
    });
  }

  /** The section is switched off on this server: 403, with the way back to the account. */
  function refuse(req: Request, res: Response, current: SignedIn, section: Section): void {
    render(req, res, 403, 'account_refused', current, { section });
  }

  return { signedIn, render, refuse };
}

export type AccountPages = ReturnType<typeof accountPages>;
