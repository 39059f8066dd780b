// Which upstream providers a page offers, and how legacy clients name them
// (`/_matrix/client/*/login` `identity_providers`, `…/login/sso/redirect/{idp}`).
import type { Config, UpstreamProvider } from '../config/types.js';

/** The `brand_name` values the built-in templates have an icon for (MAS's list). */
export const BRANDS = new Set(['apple', 'google', 'facebook', 'github', 'gitlab', 'twitter', 'discord']);

export interface LoginButton {
  id: string;
  name: string;
  brand?: string;
  url: string;
}

export function enabledProviders(config: Config): UpstreamProvider[] {
  return config.upstream_oauth2.providers.filter((p) => p.enabled !== false);
}

export function displayName(p: UpstreamProvider): string {
  if (p.human_name) return p.human_name;
  if (p.brand_name) return p.brand_name.charAt(0).toUpperCase() + p.brand_name.slice(1);
  if (p.issuer) {
    try {
      return new URL(p.issuer).host;
    } catch {
      /* fall through */
    }
  }
  return p.id;
}

/** The id a legacy client sees in `identity_providers` and passes back to `sso/redirect/{idp}`. */
export function idpId(p: UpstreamProvider): string {
  return p.synapse_idp_id ?? `oidc-${p.id}`;
}

/** The provider a legacy `{idp}` names: its `synapse_idp_id`, `oidc-<id>` or `<id>`. */
export function providerForIdp(config: Config, idp: string): UpstreamProvider | undefined {
  const wanted = idp.trim();
  return enabledProviders(config).find(
    (p) => p.synapse_idp_id === wanted || `oidc-${p.id}`.toLowerCase() === wanted.toLowerCase() || p.id.toLowerCase() === wanted.toLowerCase(),
  );
}

export function authorizePath(providerId: string, next: string): string {
  return `/upstream/authorize/${providerId}?next=${encodeURIComponent(next)}`;
}

/** One button per enabled provider, in configuration order, continuing to `next` afterwards. */
export function loginButtons(config: Config, next: string): LoginButton[] {
  return enabledProviders(config).map((p) => ({
    id: p.id,
    name: displayName(p),
    ...(p.brand_name && BRANDS.has(p.brand_name) ? { brand: p.brand_name } : {}),
    url: authorizePath(p.id, next),
  }));
}
