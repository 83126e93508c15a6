// npm run bench -- --case ingest [--ingest-mb N]: stream-import N MB (default 1024) of synthetic
// Bedrock invocation logs (with inline prompt bodies, as delivered to S3) and report MB/s and the
// importer's peak memory, which must not grow with the file.
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export async function benchIngest(mb: number): Promise<{ mb: number; records: number; seconds: number; mbPerS: number; peakRssMb: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-ingest-'));
  const file = join(dir, 'invocations.jsonl');
  const out = createWriteStream(file);
  const prompt = 'Refactor the payment module so that retries are idempotent. '.repeat(8);
  let written = 0;
  let i = 0;
  while (written < mb * 1048576) {
    const line =
      JSON.stringify({
        schemaType: 'ModelInvocationLog',
        timestamp: new Date(Date.UTC(2026, 10, 1) + i * 1000).toISOString(),
        accountId: '111122223333',
        identity: { arn: `arn:aws:sts::111122223333:assumed-role/Dev/user${i % 50}@example.com` },
        region: 'eu-west-1',
        requestId: `req-${i}`,
        operation: 'InvokeModel',
        modelId: 'eu.anthropic.claude-sonnet-4-5-20250929-v1:0',
        input: {
          inputBodyJson: { messages: [{ role: 'user', content: prompt }] },
          inputTokenCount: 1000 + (i % 500),
          cacheReadInputTokenCount: 20000,
          cacheWriteInputTokenCount: 300,
        },
        output: { outputBodyJson: { content: [{ type: 'text', text: prompt }] }, outputTokenCount: 200 + (i % 100) },
      }) + '\n';
    written += line.length;
    i++;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  const cfg = join(dir, 'c.yaml');
  writeFileSync(cfg, 'store: { sqlite: ./t.db }\n');
  const bin = fileURLToPath(new URL('../../bin/tollgate.js', import.meta.url));
  const t0 = Date.now();
  // Peak RSS of the importer process, measured by the process itself at exit.
  const r = spawnSync(
    process.execPath,
    [
      '-e',
      `process.on('exit', () => process.stderr.write('MAXRSS ' + process.resourceUsage().maxRSS + '\\n')); process.argv = [process.argv[0], ${JSON.stringify(bin)}, 'ingest', 'bedrock-invocation-logs', ${JSON.stringify(file)}, '--json', '--config', ${JSON.stringify(cfg)}]; import(${JSON.stringify(bin)});`,
    ],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  const seconds = (Date.now() - t0) / 1000;
  const res = JSON.parse(r.stdout) as { records: number; imported: number };
  const rss = Number(/MAXRSS (\d+)/.exec(r.stderr)?.[1] ?? 0) / 1024;
  const size = statSync(file).size / 1048576;
  rmSync(dir, { recursive: true, force: true });
  return { mb: Math.round(size), records: res.imported, seconds, mbPerS: size / seconds, peakRssMb: rss };
}
