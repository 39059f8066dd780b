// What every page router is given by the HTTP assembly (http/app.ts), which sits above the views.
import type { AppContext } from '../context.js';
import type { PasswordDirectory } from '../accounts/authenticate.js';
import type { PasswordHasher } from '../accounts/passwords.js';
import type { LoginLimiter } from '../accounts/rate-limit.js';
import type { OidcProvider } from '../oidc/provider.js';
import type { Renderer } from '../web/render.js';

export interface ViewDeps {
  app: AppContext;
  provider: OidcProvider;
  renderer: Renderer;
  hasher: PasswordHasher;
  limiter: LoginLimiter;
  /** Directory (LDAP) passwords, when `ldap.enabled`. */
  directory?: PasswordDirectory;
}
