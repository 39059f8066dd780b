// `policy-data`: data for the policies, set at run time. It is merged over `policy.data` from the
// configuration by every instance (within policy/dynamic-data.ts's refresh time), without a
// restart; each change is kept, the latest applies. Data the policies cannot read (a key they do
// not know, a value of the wrong type, data that does not merge) is refused with 400.
import { Type } from '@sinclair/typebox';
import { PolicyDataError, policyDataChanged, policyDataWith } from '../../policy/dynamic-data.js';
import * as policyData from '../../storage/policy-data.js';
import { AdminError, notFound } from '../errors.js';
import { single } from '../pagination.js';
import { API_PREFIX } from '../paths.js';
import { defineRoute } from '../route.js';
import { DateTime, IdParams, SingleResponse, iso } from '../schemas.js';

const KIND = 'policy-data';
const BASE = `${API_PREFIX}/policy-data`;

const Data = Type.Record(Type.String(), Type.Unknown(), { description: 'The policy data, merged over `policy.data` of the configuration' });
const Attributes = Type.Object({ created_at: DateTime, data: Data }, { title: 'PolicyData' });
const Response = SingleResponse(KIND, Attributes);

const attributes = (row: policyData.PolicyDataRow) => ({ created_at: iso(row.created_at), data: row.data });

export const policyDataRoutes = [
  defineRoute({
    method: 'post',
    path: '/policy-data',
    operationId: 'setPolicyData',
    summary: 'Set the current policy data',
    tag: 'policy-data',
    body: Type.Object({ data: Data }, { title: 'SetPolicyDataRequest' }),
    responses: { 201: { description: 'Policy data was successfully set', schema: Response }, 400: { description: 'Invalid policy data' } },
    async handler({ app }, { body }) {
      try {
        policyDataWith(app.config, body.data);
      } catch (err) {
        if (err instanceof PolicyDataError) throw new AdminError(400, `Failed to instantiate policy with the provided data: ${err.message}`);
        throw err;
      }
      const row = await policyData.insert(app.sql, body.data, app.clock.now());
      policyDataChanged(app);
      app.log.info({ policy_data_id: row.id }, 'policy data set through the admin API');
      return single(KIND, BASE, row.id, attributes(row), undefined, 201);
    },
  }),
  defineRoute({
    method: 'get',
    path: '/policy-data/latest',
    operationId: 'getLatestPolicyData',
    summary: 'Get the latest policy data',
    tag: 'policy-data',
    responses: { 200: { description: 'Latest policy data', schema: Response }, 404: { description: 'No policy data found' } },
    async handler({ app }) {
      const row = await policyData.latest(app.sql);
      if (!row) throw notFound('No policy data');
      return single(KIND, BASE, row.id, attributes(row), `${BASE}/latest`);
    },
  }),
  defineRoute({
    method: 'get',
    path: '/policy-data/{id}',
    operationId: 'getPolicyData',
    summary: 'Get policy data by its ID',
    tag: 'policy-data',
    params: IdParams,
    responses: { 200: { description: 'Policy data was found', schema: Response }, 404: { description: 'Policy data was not found' } },
    async handler({ app }, { params }) {
      const row = await policyData.find(app.sql, params.id);
      if (!row) throw notFound(`Policy data with ID ${params.id}`);
      return single(KIND, BASE, row.id, attributes(row));
    },
  }),
];
