// The policy data in force: `policy.data` from the configuration with the latest data set through
// the admin API (stored in PostgreSQL, so every instance sees it) merged over it, as MAS merges
// its dynamic policy data: objects key by key, lists appended, scalars replaced, null clears.
//
// Each instance reads the latest row at most every REFRESH_SECONDS (by its injected clock), and
// at once after a change it made itself: a change reaches every instance within that time,
// without a restart. Callers ask for the data when they evaluate a policy:
//     const data = await currentPolicyData(app);
import type { Db } from '../storage/db.js';
import * as policyData from '../storage/policy-data.js';

export type PolicyDataObject = Record<string, unknown>;

/** How stale one instance's view of the admin API's policy data may be. */
export const REFRESH_SECONDS = 5;

export class PolicyDataMergeError extends Error {
  override readonly name = 'PolicyDataMergeError';
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  return typeof value === 'object' ? 'object' : typeof value;
}

function mergeValue(base: unknown, overlay: unknown, path: string): unknown {
  if (overlay === null || base === null || base === undefined) return overlay;
  const [b, o] = [kind(base), kind(overlay)];
  const named = (k: string) => (k === 'object' ? 'an object' : `a ${k}`);
  if (b !== o) throw new PolicyDataMergeError(`cannot merge ${named(o)} into ${named(b)} at ${path || 'the top'}`);
  if (b === 'list') return [...(base as unknown[]), ...(overlay as unknown[])];
  if (b === 'object') {
    const out: PolicyDataObject = { ...(base as PolicyDataObject) };
    for (const [key, value] of Object.entries(overlay as PolicyDataObject)) out[key] = mergeValue(out[key], value, path ? `${path}.${key}` : key);
    return out;
  }
  return overlay;
}

/** `overlay` merged over `base` (neither is changed); throws PolicyDataMergeError. */
export function mergePolicyData(base: PolicyDataObject, overlay: PolicyDataObject): PolicyDataObject {
  return mergeValue(base, overlay, '') as PolicyDataObject;
}

export interface PolicyDataContext {
  sql: Db;
  clock: { now(): Date };
  config: { policy: { data: PolicyDataObject } };
  log?: { warn(details: object, message: string): void };
}

interface Cached {
  id: string | undefined;
  merged: PolicyDataObject;
  readAt: number;
}

// One view per database pool, i.e. per running instance.
const cache = new WeakMap<object, Cached>();

/** The data the policies evaluate now. */
export async function currentPolicyData(app: PolicyDataContext): Promise<PolicyDataObject> {
  const now = app.clock.now().getTime();
  const cached = cache.get(app.sql);
  if (cached && now - cached.readAt < REFRESH_SECONDS * 1000 && now >= cached.readAt) return cached.merged;
  const row = await policyData.latest(app.sql);
  let merged = app.config.policy.data;
  if (row && row.id === cached?.id) merged = cached.merged;
  else if (row) {
    try {
      merged = mergePolicyData(app.config.policy.data, row.data);
    } catch (err) {
      // Checked when it was set; only a configuration changed since can clash with it. The
      // configuration alone then applies (the admin API's `policy-data/latest` still shows it).
      app.log?.warn({ err, policy_data_id: row.id }, 'the policy data set through the admin API no longer merges with policy.data; using the configuration alone');
      merged = app.config.policy.data;
    }
  }
  cache.set(app.sql, { id: row?.id, merged, readAt: now });
  return merged;
}

/** After this instance stored new data: the next evaluation reads it. */
export function policyDataChanged(app: Pick<PolicyDataContext, 'sql'>): void {
  cache.delete(app.sql);
}
