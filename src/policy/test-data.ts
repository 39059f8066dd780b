// Policy data for the policies' unit tests: raw `policy.data` read as the server reads it.
import { buildPolicyData, type PolicyData, type PolicyDataObject } from '../domain/policy-data.js';

export function policyData(raw: PolicyDataObject = {}, base: { server_name?: string; session_limit?: Record<string, unknown> } = {}): PolicyData {
  const built = buildPolicyData({ server_name: base.server_name ?? 'example.com', session_limit: base.session_limit }, [raw]);
  if (!built.data) throw new Error(`unusable test data: ${JSON.stringify(built.problems)}`);
  return built.data;
}
