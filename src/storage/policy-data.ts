// Policy data set through the admin API. Every change is a new row, so the history stays; the
// latest row is what every instance merges over `policy.data` from its configuration.
import type postgres from 'postgres';
import { monotonicFactory } from 'ulid';
import type { Db } from './db.js';

/** Ids of one process never go backwards, even within a millisecond: the latest row is the one with the greatest id. */
const ulid = monotonicFactory();

export interface PolicyDataRow {
  id: string;
  data: Record<string, unknown>;
  created_at: Date;
}

export async function insert(db: Db, data: Record<string, unknown>, now: Date): Promise<PolicyDataRow> {
  const [row] = await db<PolicyDataRow[]>`
    INSERT INTO policy_data (id, data, created_at) VALUES (${ulid()}, ${db.json(data as postgres.JSONValue)}, ${now})
    RETURNING *`;
  return row;
}

export async function latest(db: Db): Promise<PolicyDataRow | undefined> {
  const [row] = await db<PolicyDataRow[]>`SELECT * FROM policy_data ORDER BY id COLLATE "C" DESC LIMIT 1`;
  return row;
}

export async function find(db: Db, id: string): Promise<PolicyDataRow | undefined> {
  const [row] = await db<PolicyDataRow[]>`SELECT * FROM policy_data WHERE id = ${id}`;
  return row;
}
