// npm run bench: added latency of tollgate vs a bare pass-through proxy (the floor), both
// measured against direct calls to the same fake upstream in the same run. Each server runs in
// its own process; targets are interleaved in rounds so machine noise hits them alike.
import { benchObservability } from './observability.js';
import { benchCloudInbound } from './cloud-inbound.js';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { rmSync } from 'node:fs';
import { Agent, request } from 'undici';
import { claudeBody } from '../test/helpers/gateway.js';
import { benchPolicy } from './policy.js';
import { benchIngest } from './ingest.js';
import { benchReports } from './reports.js';
import { benchTranscripts } from './transcripts.js';
import { benchPostgres } from './postgres.js';
import { benchTwoGateways } from './two-gateways.js';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

async function start(script: string, args: string[], execArgv: string[] = []): Promise<{ child: ChildProcess; msg: Record<string, unknown> }> {
  const child = fork(here(script), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
  const msg = await new Promise<Record<string, unknown>>((res, rej) => {
    child.once('message', (m) => res(m as Record<string, unknown>));
    child.once('exit', (c) => rej(new Error(`${script} exited ${c}`)));
  });
  return { child, msg };
}

interface Sample {
  ttfb: number;
  ttlb: number;
}

const client = new Agent({ connections: 128, keepAliveTimeout: 60_000 });

async function one(url: string, body: Buffer, key: string): Promise<Sample> {
  const t0 = performance.now();
  const res = await request(url + '/v1/messages?beta=true', {
    dispatcher: client,
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${key}`,
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'claude-code-20250219',
      'x-claude-code-session-id': 'bench',
    },
  });
  let ttfb = 0;
  for await (const _ of res.body) if (ttfb === 0) ttfb = performance.now() - t0;
  const ttlb = performance.now() - t0;
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode} from ${url}`);
  return { ttfb, ttlb };
}

async function batch(url: string, body: Buffer, key: string, n: number, conc: number): Promise<{ samples: Sample[]; seconds: number }> {
  const samples: Sample[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (next < n) {
        next++;
        samples.push(await one(url, body, key));
      }
    }),
  );
  return { samples, seconds: (performance.now() - t0) / 1000 };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  // Spend control alone (5 budgets, 3 rate limits, a model policy): target < 50 µs p50.
  const pol = benchPolicy(quick ? 50_000 : 200_000);
  console.log(
    `spend control per request (policy + rate limits + 5 budgets, admit and settle): p50 ${pol.p50us.toFixed(1)} µs, p99 ${pol.p99us.toFixed(1)} µs, mean ${pol.meanUs.toFixed(1)} µs\n`,
  );
  if (process.argv.includes('--policy-only')) return;
  const onlyCases = process.argv.flatMap((a, i) => (a === '--case' ? [process.argv[i + 1] ?? ''] : []));
  if (onlyCases.includes('transcripts')) {
    const arg = process.argv.indexOf('--transcripts-mb');
    await benchTranscripts(arg > 0 ? Number(process.argv[arg + 1]) : 1024);
    return;
  }
  if (onlyCases.includes('ingest')) {
    const mbArg = process.argv.indexOf('--ingest-mb');
    const mb = mbArg > 0 ? Number(process.argv[mbArg + 1]) : 1024;
    for (const size of [Math.max(16, Math.round(mb / 8)), mb]) {
      const r = await benchIngest(size);
      console.log(
        `ingest bedrock-invocation-logs: ${r.mb} MB, ${r.records} records in ${r.seconds.toFixed(1)} s = ${r.mbPerS.toFixed(1)} MB/s, importer peak RSS ${r.peakRssMb.toFixed(0)} MB`,
      );
    }
    return;
  }
  const up = await start('./upstream.js', []);
  const upUrl = `http://127.0.0.1:${up.msg.port as number}`;
  if (onlyCases.includes('postgres')) {
    await benchPostgres(upUrl, quick);
    up.child.kill();
    return;
  }
  if (onlyCases.includes('cloud-inbound')) {
    await benchCloudInbound(upUrl, quick);
    up.child.kill();
    return;
  }
  if (onlyCases.includes('observability')) {
    await benchObservability(upUrl, quick);
    up.child.kill();
    return;
  }
  if (onlyCases.includes('two-gateways')) {
    await benchTwoGateways(upUrl);
    up.child.kill();
    return;
  }
  if (onlyCases.includes('reports')) {
    const arg = process.argv.indexOf('--lines');
    const sizes = arg > 0 ? (process.argv[arg + 1] ?? '').split(',').map(Number) : quick ? [100_000, 1_000_000] : [1_000_000, 10_000_000];
    await benchReports(sizes, upUrl);
    up.child.kill();
    return;
  }
  const floor = await start('./floor-proxy.js', [upUrl]);
  const br = await start('./upstream-bedrock.js', []);
  const brUrl = `http://127.0.0.1:${br.msg.port as number}`;
  // TOLLGATE_BENCH_PROFILE=DIR writes a CPU profile of the tollgate process there.
  const prof = process.env.TOLLGATE_BENCH_PROFILE;
  const tg = await start('./tollgate-server.js', [upUrl, brUrl], prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []);
  const targets = [
    { name: 'direct', url: upUrl, key: 'x', child: null },
    { name: 'floor', url: `http://127.0.0.1:${floor.msg.port as number}`, key: 'x', child: floor.child },
    { name: 'tollgate', url: `http://127.0.0.1:${tg.msg.port as number}`, key: tg.msg.key as string, child: tg.child },
  ];
  // CPU time of a server process (µs): unlike latency it barely moves when the machine is busy.
  const cpu = (child: ChildProcess | null): Promise<number> =>
    child
      ? new Promise((res) => {
          child.once('message', (m) => res((m as { cpu: number }).cpu));
          child.send('cpu');
        })
      : Promise.resolve(0);
  const cpuRows: string[] = [];
  const rows: string[] = [];
  const summary: string[] = [];
  console.log(`tollgate benchmark: node ${process.version}, ${quick ? 'quick' : 'full'} run; times in ms\n`);
  // --case SIZE:CONC (repeatable) narrows the matrix, e.g. --case 50000:1
  const only = process.argv.flatMap((a, i) => (a === '--case' ? [process.argv[i + 1] ?? ''] : []));
  for (const size of [50_000, 500_000]) {
    const body = claudeBody(size);
    for (const conc of [1, 16, 64]) {
      if (only.length && !only.includes(`${size}:${conc}`)) continue;
      const perRound = quick ? (conc === 1 ? 40 : 320) : conc === 1 ? 100 : 1280;
      const rounds = quick ? 3 : 6;
      const all: Record<string, Sample[]> = { direct: [], floor: [], tollgate: [] };
      const secs: Record<string, number> = { direct: 0, floor: 0, tollgate: 0 };
      const cpuUs: Record<string, number> = { direct: 0, floor: 0, tollgate: 0 };
      for (const t of targets) await batch(t.url, body, t.key, conc * 4, conc); // warm-up
      for (let r = 0; r < rounds; r++) {
        for (const t of r % 2 ? [...targets].reverse() : targets) {
          const c0 = await cpu(t.child);
          const b = await batch(t.url, body, t.key, perRound, conc);
          cpuUs[t.name]! += (await cpu(t.child)) - c0;
          all[t.name]!.push(...b.samples);
          secs[t.name]! += b.seconds;
        }
      }
      const d = all.direct!;
      const stat = (name: string) => {
        const s = all[name]!;
        return {
          fb50:
            pct(
              s.map((x) => x.ttfb),
              50,
            ) -
            pct(
              d.map((x) => x.ttfb),
              50,
            ),
          fb99:
            pct(
              s.map((x) => x.ttfb),
              99,
            ) -
            pct(
              d.map((x) => x.ttfb),
              99,
            ),
          lb50:
            pct(
              s.map((x) => x.ttlb),
              50,
            ) -
            pct(
              d.map((x) => x.ttlb),
              50,
            ),
          lb99:
            pct(
              s.map((x) => x.ttlb),
              99,
            ) -
            pct(
              d.map((x) => x.ttlb),
              99,
            ),
          rps: s.length / secs[name]!,
          raw50: pct(
            s.map((x) => x.ttlb),
            50,
          ),
        };
      };
      const fl = stat('floor');
      const tgs = stat('tollgate');
      const label = `${size / 1000} KB, c=${conc}`;
      rows.push(
        `| ${label} | direct | — | — | — | — | ${f(
          pct(
            d.map((x) => x.ttlb),
            50,
          ),
        )} | ${f(all.direct!.length / secs.direct!, 0)} |`,
      );
      rows.push(`| ${label} | floor | ${f(fl.fb50)} | ${f(fl.fb99)} | ${f(fl.lb50)} | ${f(fl.lb99)} | ${f(fl.raw50)} | ${f(fl.rps, 0)} |`);
      rows.push(`| ${label} | tollgate | ${f(tgs.fb50)} | ${f(tgs.fb99)} | ${f(tgs.lb50)} | ${f(tgs.lb99)} | ${f(tgs.raw50)} | ${f(tgs.rps, 0)} |`);
      const ratio = (a: number, b: number) => f(a / b);
      summary.push(
        `| ${label} | ${ratio(tgs.fb50, fl.fb50)} | ${ratio(tgs.fb99, fl.fb99)} | ${ratio(tgs.lb50, fl.lb50)} | ${ratio(tgs.lb99, fl.lb99)} | ${ratio(tgs.rps, fl.rps)} |`,
      );
      const perReq = (name: string) => cpuUs[name]! / 1000 / all[name]!.length;
      cpuRows.push(`| ${label} | ${f(perReq('floor'), 3)} | ${f(perReq('tollgate'), 3)} | ${f(perReq('tollgate') / perReq('floor'))} |`);
      console.log(`${label}: done (${all.direct!.length} requests per target)`);
    }
  }
  // Bedrock translation: event-stream frames decoded and re-encoded as Anthropic SSE, against
  // direct calls to the same fake Bedrock (which a client could not read as SSE: this is what
  // the translation costs on top of a pass-through).
  const brRows: string[] = [];
  if (!only.length || only.includes('bedrock')) {
    const tgUrl = `http://127.0.0.1:${tg.msg.port as number}`;
    for (const conc of [1, 64]) {
      const body = claudeBody(50_000, { model: 'claude-opus-4-6' });
      const n = quick ? (conc === 1 ? 120 : 960) : conc === 1 ? 600 : 7680;
      await batch(brUrl, body, 'x', conc * 4, conc);
      await batch(tgUrl, body, tg.msg.cloudKey as string, conc * 4, conc);
      const d: Sample[] = [];
      const v: Sample[] = [];
      for (let r = 0; r < 4; r++) {
        d.push(...(await batch(brUrl, body, 'x', n / 4, conc)).samples);
        v.push(...(await batch(tgUrl, body, tg.msg.cloudKey as string, n / 4, conc)).samples);
      }
      const add = (p: number, k: keyof Sample) =>
        pct(
          v.map((x) => x[k]),
          p,
        ) -
        pct(
          d.map((x) => x[k]),
          p,
        );
      brRows.push(`| 50 KB, c=${conc} | ${f(add(50, 'ttfb'))} | ${f(add(99, 'ttfb'))} | ${f(add(50, 'ttlb'))} | ${f(add(99, 'ttlb'))} |`);
      console.log(`bedrock translation c=${conc}: done`);
    }
  }
  console.log('\nAdded latency over direct (ms) and throughput (req/s):\n');
  console.log('| case | target | +TTFB p50 | +TTFB p99 | +TTLB p50 | +TTLB p99 | TTLB p50 | req/s |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  console.log('\nRatios tollgate / floor (added latency; throughput):\n');
  console.log('| case | TTFB p50 | TTFB p99 | TTLB p50 | TTLB p99 | req/s |');
  console.log('|---|---|---|---|---|---|');
  for (const s of summary) console.log(s);
  console.log('\nCPU time per request of the server process (ms, user + system), and the ratio:\n');
  console.log('| case | floor | tollgate | tollgate / floor |');
  console.log('|---|---|---|---|');
  for (const r of cpuRows) console.log(r);
  if (brRows.length) {
    console.log('\nBedrock route (event-stream → SSE translation, metering, ledger): added latency over direct (ms):\n');
    console.log('| case | +TTFB p50 | +TTFB p99 | +TTLB p50 | +TTLB p99 |');
    console.log('|---|---|---|---|---|');
    for (const r of brRows) console.log(r);
  }
  tg.child.send('lines');
  const { lines, commits } = await new Promise<{ lines: number; commits: number }>((res) =>
    tg.child.once('message', (m) => res(m as { lines: number; commits: number })),
  );
  console.log(
    `\nledger lines written by tollgate during the run: ${lines}, in ${commits} transactions (${(lines / Math.max(1, commits)).toFixed(2)} lines each)`,
  );
  tg.child.send('exit');
  await new Promise((r) => tg.child.once('exit', r));
  for (const c of [up.child, floor.child, br.child]) c.kill();
  rmSync(tg.msg.dir as string, { recursive: true, force: true });
  await client.close();
}

await main();
