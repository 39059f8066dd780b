// Read-your-writes for the introspection cache on this instance: a change committed here returns
// on a pool connection while its invalidation comes on the LISTEN connection a moment later, and
// an introspection arriving in between (right after the change's response) must not be answered
// from the cache. So before the head of any response to a request that may have changed something
// leaves, the cache is told to hold off until it has heard everything committed before (see
// IntrospectionCache.syncAfterWrite); and so it is when a job of this instance's worker ends.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JobHandler } from '../jobs/worker.js';
import { ROUTES } from '../oidc/provider.js';
import { MSC4108_CREATE, MSC4108_SESSIONS } from '../rendezvous/msc4108.js';
import { MSC4388_PATH } from '../rendezvous/msc4388.js';

export interface WriteSync {
  syncAfterWrite(): void;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Routes that never change a token: introspection itself and the rendezvous. */
const UNCHANGING_PREFIXES = [MSC4108_CREATE, MSC4108_SESSIONS, MSC4388_PATH];

/** Whether a request may change what introspection answers (any method but the safe ones, any route but those). */
export function mayChangeTokens(req: IncomingMessage): boolean {
  if (SAFE_METHODS.has(req.method ?? 'GET')) return false;
  const url = req.url ?? '';
  const query = url.indexOf('?');
  const path = query < 0 ? url : url.slice(0, query);
  if (path === ROUTES.introspection) return false;
  return !UNCHANGING_PREFIXES.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
}

/**
 * Call first for every request, before any handler can write: for one that may change tokens,
 * `sync.syncAfterWrite()` runs synchronously when the response's head is written (explicitly or
 * by the first write or end: Node writes it through `writeHead` either way), before any byte of
 * it can leave.
 */
export function syncBeforeAnswer(sync: WriteSync, req: IncomingMessage, res: ServerResponse): void {
  if (!mayChangeTokens(req)) return;
  const writeHead = res.writeHead;
  let synced = false;
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    if (!synced) {
      synced = true;
      sync.syncAfterWrite();
    }
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
}

/** Calls `after` once each job's handler is done (whatever it committed), before the worker records the outcome. */
export function followedBy(handlers: Record<string, JobHandler>, after: (() => void) | undefined): Record<string, JobHandler> {
  if (!after) return handlers;
  const wrap =
    (handler: JobHandler): JobHandler =>
    async (payload, ctx) => {
      try {
        await handler(payload, ctx);
      } finally {
        after();
      }
    };
  return Object.fromEntries(Object.entries(handlers).map(([kind, handler]) => [kind, wrap(handler)]));
}
