// The worker thread that holds the PostgreSQL connections of this process's stores: the Store
// interface is synchronous (the SQLite store answers in microseconds, and every command and the
// gateway are written against it), so index.ts blocks on each call here (synckit: a
// SharedArrayBuffer and Atomics.wait) while node-postgres does the work asynchronously.
import { runAsWorker } from 'synckit';
import { PgOps, type PgOptions } from './ops.js';

const open = new Map<number, PgOps>();
let next = 1;

type Method = Exclude<keyof PgOps, 'migrate' | 'schemaVersion'> | 'migrate' | 'schemaVersion';

runAsWorker(async (handle: number, method: string, args: unknown[]): Promise<unknown> => {
  if (method === 'open') {
    const ops = await PgOps.open(args[0] as string, args[1] as PgOptions);
    open.set(next, ops);
    return next++;
  }
  const ops = open.get(handle);
  if (!ops) throw new Error('the PostgreSQL store is closed');
  if (method === 'close') {
    open.delete(handle);
    await ops.close();
    return null;
  }
  const fn = ops[method as Method] as unknown as ((...a: unknown[]) => Promise<unknown>) | undefined;
  if (typeof fn !== 'function') throw new Error(`no store operation ${method}`);
  return fn.apply(ops, args);
});
