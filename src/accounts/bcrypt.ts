// bcrypt (bcryptjs, pure JavaScript) on worker threads. One comparison at Synapse's default cost
// of 12 takes about half a second of CPU; on the main thread it would stall the event loop that
// answers introspection. Workers, started on first use, do it instead: one per call running at
// once (the password pool, hash-pool.ts, bounds how many that is), at most one per core. Workers
// keep the process alive only while they have work.
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const bcrypt = require(workerData.module);
parentPort.on('message', ({ id, op, password, arg }) => {
  try {
    const result = op === 'hash' ? bcrypt.hashSync(password, bcrypt.genSaltSync(arg)) : bcrypt.compareSync(password, arg);
    parentPort.postMessage({ id, result });
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err) });
  }
});`;

interface Pending {
  resolve(value: string | boolean): void;
  reject(error: Error): void;
}

interface PoolWorker {
  worker: Worker;
  pending: Map<number, Pending>;
}

const MAX_WORKERS = availableParallelism();
const workers: PoolWorker[] = [];
let nextId = 0;

function spawn(): PoolWorker {
  const module = createRequire(import.meta.url).resolve('bcryptjs');
  const entry: PoolWorker = { worker: new Worker(WORKER_SOURCE, { eval: true, workerData: { module } }), pending: new Map() };
  const fail = (error: Error) => {
    workers.splice(workers.indexOf(entry), 1);
    for (const waiter of entry.pending.values()) waiter.reject(error);
    entry.pending.clear();
  };
  entry.worker.on('message', (message: { id: number; result?: string | boolean; error?: string }) => {
    const waiter = entry.pending.get(message.id);
    if (!waiter) return;
    entry.pending.delete(message.id);
    if (entry.pending.size === 0) entry.worker.unref();
    if (message.error !== undefined) waiter.reject(new Error(`bcrypt: ${message.error}`));
    else waiter.resolve(message.result!);
  });
  entry.worker.on('error', fail);
  entry.worker.on('exit', (code) => fail(new Error(`bcrypt worker exited (${code})`)));
  entry.worker.unref();
  workers.push(entry);
  return entry;
}

function run(op: 'hash' | 'compare', password: string, arg: string | number): Promise<string | boolean> {
  let target = workers.reduce<PoolWorker | undefined>((best, w) => (!best || w.pending.size < best.pending.size ? w : best), undefined);
  if (!target || (target.pending.size > 0 && workers.length < MAX_WORKERS)) target = spawn();
  const chosen = target;
  const id = (nextId += 1);
  return new Promise((resolve, reject) => {
    chosen.pending.set(id, { resolve, reject });
    chosen.worker.ref();
    chosen.worker.postMessage({ id, op, password, arg });
  });
}

/** A `$2b$` hash of `password` (its UTF-8 bytes; bcrypt reads at most 72 of them) at `cost`. */
export async function bcryptHash(password: string, cost: number): Promise<string> {
  return (await run('hash', password, cost)) as string;
}

export async function bcryptCompare(password: string, hash: string): Promise<boolean> {
  return (await run('compare', password, hash)) as boolean;
}

/** The cost a bcrypt hash was made with, or undefined when it is not one. */
export function bcryptCost(hash: string): number | undefined {
  const match = /^\$2[abxy]?\$(\d\d)\$/.exec(hash);
  return match ? Number(match[1]) : undefined;
}
