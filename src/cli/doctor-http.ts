// `mauth doctor`'s checks over HTTP: Mauth as clients reach it (`http.public_base`), and the
// homeserver as Mauth reaches it (`matrix.endpoint`), both ways round: Mauth calling Synapse's
// `/_synapse/mas/` API with the shared secret, and Synapse naming this issuer to clients.
import type { JWK } from 'jose';
import { createHomeserverConnection, HomeserverError } from '../homeserver/index.js';
import { loadSigningKeys } from '../oidc/keys.js';
import type { DoctorCheck, DoctorContext, Finding } from './doctor.js';

/** A localpart asked about and never created: `is_localpart_available` changes nothing. */
const PROBE_LOCALPART = 'mauth-doctor-probe';

interface Discovery {
  url: string;
  body: Record<string, unknown>;
}

/** Why a request got no answer, in a few words. */
function reason(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'no answer in time';
  return e.cause?.code ?? e.cause?.message ?? e.message;
}

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

function isLoopback(url: URL): boolean {
  return ['localhost', '[::1]'].includes(url.hostname) || url.hostname.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
}

async function readJson(response: Response): Promise<Record<string, unknown> | undefined> {
  const body: unknown = await response.json().catch(() => undefined);
  return body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
}

async function fetchDiscovery(ctx: DoctorContext, base: string, clockSource?: string): Promise<Discovery> {
  const url = new URL('.well-known/openid-configuration', withSlash(base)).href;
  let response: Response;
  try {
    response = await ctx.fetch(url, clockSource);
  } catch (err) {
    throw new Error(`${url} is not reachable (${reason(err)})`);
  }
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}`);
  const body = await readJson(response);
  if (!body) throw new Error(`${url} did not answer with a JSON object`);
  return { url, body };
}

/** Mauth's discovery document over `http.public_base`, fetched once for every check that needs it. */
function discovery(ctx: DoctorContext): Promise<Discovery> {
  let pending = ctx.shared.get('discovery') as Promise<Discovery> | undefined;
  if (!pending) {
    pending = fetchDiscovery(ctx, ctx.config.http.public_base, 'Mauth');
    pending.catch(() => {});
    ctx.shared.set('discovery', pending);
  }
  return pending;
}

const NOT_CHECKED = (what: string): Finding => ({
  status: 'warn',
  message: `${what}: not checked, Mauth's discovery document could not be fetched`,
  hint: 'fix the public_base finding above first',
});

export const DISCOVERY_CHECK: DoctorCheck = {
  name: 'public_base',
  async run(ctx) {
    try {
      await discovery(ctx);
      return { status: 'ok', message: `public_base: Mauth answers at ${ctx.config.http.public_base}` };
    } catch (err) {
      return {
        status: 'fail',
        message: `public_base: ${(err as Error).message}`,
        hint: 'is `mauth server` running, and is http.public_base the URL clients reach it at (DNS, reverse proxy, TLS)?',
      };
    }
  },
};

const ENDPOINT_KEYS = ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'registration_endpoint', 'introspection_endpoint', 'revocation_endpoint'];

export const ISSUER_CHECK: DoctorCheck = {
  name: 'issuer',
  async run(ctx) {
    const found = await discovery(ctx).catch(() => undefined);
    if (!found) return NOT_CHECKED('issuer');
    const { issuer, public_base: publicBase } = ctx.config.http;
    const findings: Finding[] = [];
    if (found.body.issuer !== issuer) {
      findings.push({
        status: 'fail',
        message: `issuer: the running server names ${String(found.body.issuer)}, this configuration ${issuer}`,
        hint: 'run doctor with the files the server runs with; if they are the same, something else answers at http.public_base',
      });
    }
    for (const key of ENDPOINT_KEYS) {
      const value = found.body[key];
      if (typeof value === 'string' && !value.startsWith(publicBase)) {
        findings.push({ status: 'fail', message: `issuer: discovery's ${key} ${value} is outside ${publicBase}`, hint: 'http.public_base must be the URL clients reach Mauth at' });
      }
    }
    if (issuer !== publicBase) {
      const atIssuer = await fetchDiscovery(ctx, issuer).catch((err: Error) => err);
      if (atIssuer instanceof Error || atIssuer.body.issuer !== issuer) {
        findings.push({
          status: 'warn',
          message: `issuer: ${atIssuer instanceof Error ? atIssuer.message : `${atIssuer.url} names another issuer`}`,
          hint: 'clients that discover Mauth from its issuer need the discovery document there: forward it to Mauth',
        });
      }
    }
    for (const url of new Set([issuer, publicBase])) {
      if (new URL(url).protocol === 'http:' && !isLoopback(new URL(url))) {
        findings.push({ status: 'warn', message: `issuer: ${url} is not HTTPS; clients refuse such an issuer`, hint: 'serve Mauth over HTTPS (a reverse proxy) and set http.public_base accordingly' });
      }
    }
    return findings.length > 0 ? findings : { status: 'ok', message: `issuer: discovery names ${issuer}, endpoints under ${publicBase}` };
  },
};

export const PUBLISHED_KEYS_CHECK: DoctorCheck = {
  name: 'published keys',
  async run(ctx) {
    const found = await discovery(ctx).catch(() => undefined);
    if (!found || typeof found.body.jwks_uri !== 'string') return NOT_CHECKED('published keys');
    const configured = await loadSigningKeys(ctx.config.secrets.keys).catch(() => undefined);
    if (!configured) return { status: 'warn', message: 'published keys: not compared, secrets.keys cannot be read', hint: 'see the signing keys finding above' };
    const response = await ctx.fetch(found.body.jwks_uri);
    const body = response.ok ? await readJson(response) : undefined;
    const published = Array.isArray(body?.keys) ? (body.keys as JWK[]).map((k) => k.kid) : undefined;
    if (!published) return { status: 'fail', message: `published keys: ${found.body.jwks_uri} answered ${response.status} without a key set`, hint: 'the reverse proxy must forward it to Mauth' };
    const mine = configured.map((k) => k.kid);
    if (mine.length === published.length && mine.every((kid) => published.includes(kid))) {
      return { status: 'ok', message: 'published keys: the running server publishes the keys of secrets.keys' };
    }
    return {
      status: 'warn',
      message: `published keys: the running server publishes ${published.join(', ') || 'none'}, this configuration has ${mine.join(', ')}`,
      hint: 'run doctor with the files the server runs with, or restart the server after changing secrets.keys',
    };
  },
};

export const HOMESERVER_CHECK: DoctorCheck = {
  name: 'homeserver',
  async run(ctx) {
    const { endpoint, homeserver: serverName } = ctx.config.matrix;
    const homeserver = createHomeserverConnection(ctx.config.matrix, { timeoutMs: ctx.timeoutMs });
    try {
      await homeserver.isLocalpartAvailable(PROBE_LOCALPART);
      return { status: 'ok', message: `homeserver: ${endpoint} accepts Mauth's shared secret (${serverName})` };
    } catch (err) {
      if (!(err instanceof HomeserverError)) throw err;
      if (err.status === 0) {
        return {
          status: 'fail',
          message: `homeserver: ${endpoint} is not reachable (${reason(err.cause ?? err)})`,
          hint: 'is Synapse running? matrix.endpoint must be the URL this host reaches Synapse at, e.g. http://synapse:8008/',
        };
      }
      if (err.status === 401 || err.status === 403) {
        return {
          status: 'fail',
          message: `homeserver: ${endpoint} refused the shared secret (${err.status}${err.errcode ? ` ${err.errcode}` : ''})`,
          hint: "matrix.secret must equal the `secret` of the `matrix_authentication_service` block of Synapse's homeserver.yaml",
        };
      }
      if (err.status === 404) {
        return {
          status: 'fail',
          message: `homeserver: ${endpoint} does not serve /_synapse/mas/ (404${err.errcode ? ` ${err.errcode}` : ''})`,
          hint: "enable `matrix_authentication_service` in Synapse's homeserver.yaml (Synapse 1.136 or newer), and check that matrix.endpoint is Synapse itself",
        };
      }
      return { status: 'fail', message: `homeserver: ${err.message}`, hint: "Synapse's log says why it failed" };
    }
  },
};

const AUTH_METADATA_PATHS = ['_matrix/client/v1/auth_metadata', '_matrix/client/unstable/org.matrix.msc2965/auth_metadata'];

export const AUTH_METADATA_CHECK: DoctorCheck = {
  name: 'homeserver auth metadata',
  async run(ctx) {
    const base = withSlash(ctx.config.matrix.endpoint);
    const { issuer } = ctx.config.http;
    const get = async (path: string) => {
      try {
        return await ctx.fetch(new URL(path, base), 'the homeserver');
      } catch (err) {
        return new Error(`${new URL(path, base).href} is not reachable (${reason(err)})`);
      }
    };
    for (const path of AUTH_METADATA_PATHS) {
      const response = await get(path);
      if (response instanceof Error) {
        return { status: 'fail', message: `homeserver auth metadata: ${response.message}`, hint: 'is Synapse running? matrix.endpoint must be the URL this host reaches Synapse at' };
      }
      if (response.status !== 200) continue;
      const named = (await readJson(response))?.issuer;
      if (named === issuer) return { status: 'ok', message: `homeserver auth metadata: ${new URL(path, base).pathname} names this issuer (${issuer})` };
      return {
        status: 'fail',
        message: `homeserver auth metadata: ${new URL(path, base).pathname} names ${String(named)}, not this issuer (${issuer})`,
        hint: "the `endpoint` of Synapse's `matrix_authentication_service` block must reach this Mauth, whose http.issuer must be what clients are sent to",
      };
    }
    const versions = await get('_matrix/client/versions');
    if (!(versions instanceof Error) && versions.ok) {
      return {
        status: 'fail',
        message: `homeserver auth metadata: ${base} serves the client API but names no authorization server (no auth_metadata)`,
        hint: "enable `matrix_authentication_service` in Synapse's homeserver.yaml with its `endpoint` pointing at Mauth: clients find Mauth through it",
      };
    }
    return {
      status: 'fail',
      message: `homeserver auth metadata: no Matrix client API at ${base} (${versions instanceof Error ? versions.message : `versions answered ${versions.status}`})`,
      hint: "matrix.endpoint must be Synapse's own URL",
    };
  },
};
