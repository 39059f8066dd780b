// The policy data in force: `policy.data` from the configuration with the latest data set through
// the admin API (stored in PostgreSQL, so every instance sees it) merged over it, as MAS merges
// its dynamic policy data (domain/policy-data.ts), read into a typed PolicyData once per change.
//
// Each instance reads the latest row at most every REFRESH_SECONDS (by its injected clock), and
// at once after a change it made itself: a change reaches every instance within that time,
// without a restart. Callers ask for the data when they evaluate a policy:
//     const data = await currentPolicyData(app);
import {
  PolicyDataMergeError,
  buildPolicyData,
  describeProblems,
  mergePolicyData,
  type PolicyData,
  type PolicyDataBase,
  type PolicyDataObject,
  type PolicyDataProblem,
} from '../domain/policy-data.js';
import type { Db } from '../storage/db.js';
import * as policyData from '../storage/policy-data.js';

export { PolicyDataMergeError, mergePolicyData, type PolicyData, type PolicyDataObject };

/** How stale one instance's view of the admin API's policy data may be. */
export const REFRESH_SECONDS = 5;

/** The parts of the configuration the policy data is made of. */
export interface PolicyDataConfig {
  policy: { data: PolicyDataObject };
  matrix: { homeserver: string };
  experimental: { session_limit?: object };
}

export interface PolicyDataContext {
  sql: Db;
  clock: { now(): Date };
  config: PolicyDataConfig;
  log?: { warn(details: object, message: string): void };
}

/** Data that cannot be used: it does not merge with the configuration, or a value is unusable. */
export class PolicyDataError extends Error {
  override readonly name = 'PolicyDataError';

  constructor(readonly problems: PolicyDataProblem[]) {
    super(describeProblems(problems));
  }
}

function baseOf(config: PolicyDataConfig): PolicyDataBase {
  const limit = config.experimental.session_limit as Record<string, unknown> | undefined;
  return { server_name: config.matrix.homeserver, ...(limit ? { session_limit: limit } : {}) };
}

/** `policy.data` with `overlay` (the admin API's data) merged over it; throws PolicyDataError. */
export function policyDataWith(config: PolicyDataConfig, overlay?: PolicyDataObject): PolicyData {
  const built = buildPolicyData(baseOf(config), overlay ? [config.policy.data, overlay] : [config.policy.data]);
  if (!built.data) throw new PolicyDataError(built.problems);
  return built.data;
}

// The configuration's data, read once per loaded configuration.
const fromConfig = new WeakMap<object, PolicyData>();

function configData(config: PolicyDataConfig): PolicyData {
  let data = fromConfig.get(config);
  if (!data) {
    data = policyDataWith(config);
    fromConfig.set(config, data);
  }
  return data;
}

interface Cached {
  id: string | undefined;
  data: PolicyData;
  readAt: number;
}

// One view per database pool, i.e. per running instance.
const cache = new WeakMap<object, Cached>();

/** The data the policies evaluate now. */
export async function currentPolicyData(app: PolicyDataContext): Promise<PolicyData> {
  const now = app.clock.now().getTime();
  const cached = cache.get(app.sql);
  if (cached && now - cached.readAt < REFRESH_SECONDS * 1000 && now >= cached.readAt) return cached.data;
  const row = await policyData.latest(app.sql);
  let data: PolicyData;
  if (row && row.id === cached?.id) data = cached.data;
  else if (row) {
    try {
      data = policyDataWith(app.config, row.data);
    } catch (err) {
      if (!(err instanceof PolicyDataError)) throw err;
      // Checked when it was set; only a configuration changed since can clash with it. The
      // configuration alone then applies (the admin API's `policy-data/latest` still shows it).
      app.log?.warn({ err, policy_data_id: row.id }, 'the policy data set through the admin API no longer fits policy.data; using the configuration alone');
      data = configData(app.config);
    }
  } else data = configData(app.config);
  cache.set(app.sql, { id: row?.id, data, readAt: now });
  return data;
}

/** After this instance stored new data: the next evaluation reads it. */
export function policyDataChanged(app: Pick<PolicyDataContext, 'sql'>): void {
  cache.delete(app.sql);
}
