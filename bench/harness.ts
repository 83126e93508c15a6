// Gateways in their own processes for the benchmarks that compare configurations: start one,
// read its CPU time, and drive Claude Code-like streaming requests at it.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const client = new Agent({ connections: 64, keepAliveTimeout: 60_000 });

export interface Gw {
  url: string;
  child: ChildProcess;
}

export function gateway(cfg: string, ...args: string[]): Promise<Gw> {
  const child = fork(here('./gateway-process.js'), [cfg, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ url: `http://127.0.0.1:${(m as { port: number }).port}`, child }));
    child.once('exit', (c) => reject(new Error(`gateway exited ${c}`)));
  });
}

export const cpu = (g: Gw): Promise<number> =>
  new Promise((res) => {
    g.child.once('message', (m) => res((m as { cpu: number }).cpu));
    g.child.send('cpu');
  });

async function one(url: string, body: Buffer, key: string, path = '/v1/messages'): Promise<number> {
  const t0 = performance.now();
  const r = await request(`${url}${path}`, {
    dispatcher: client,
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'anthropic-version': '2023-06-01' },
  });
  await r.body.arrayBuffer();
  if (r.statusCode !== 200) throw new Error(`status ${r.statusCode} from ${url}`);
  return performance.now() - t0;
}

export async function run(urls: string[], body: Buffer, key: string, n: number, conc: number, path?: string): Promise<{ ms: number[]; seconds: number }> {
  const ms: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conc }, async (_, i) => {
      while (next < n) {
        next++;
        ms.push(await one(urls[i % urls.length]!, body, key, path));
      }
    }),
  );
  return { ms, seconds: (performance.now() - t0) / 1000 };
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** One round against one gateway: the median latency (ms) and the gateway's CPU per request (ms,
 * read from the process itself, so it barely moves when the machine is busy). */
export async function measure(g: Gw, body: Buffer, key: string, n: number, conc: number, path?: string): Promise<{ latencyMs: number; cpuMs: number }> {
  const c0 = await cpu(g);
  const x = await run([g.url], body, key, n, conc, path);
  const c1 = await cpu(g);
  return { latencyMs: median(x.ms), cpuMs: (c1 - c0) / 1000 / n };
}
