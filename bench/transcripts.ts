// npm run bench -- --case transcripts [--transcripts-mb N]: N MB (default 1024) of Claude Code
// transcripts in the shape Claude Code writes them (~/.claude/projects/<project>/<session>.jsonl:
// prompts, assistant lines per content block sharing a message id, tool results that carry the
// file contents twice), imported by `tollgate ingest claude-transcripts`; and, when ccusage is
// installed (CCUSAGE_BIN or on PATH), ccusage reading the same files, for comparison.
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

async function writeTranscripts(root: string, mb: number): Promise<{ bytes: number; responses: number }> {
  const code = 'export function add(a: number, b: number): number {\n  return a + b; // "sum"\n}\n'.repeat(24);
  let bytes = 0;
  let responses = 0;
  let session = 0;
  const start = Date.UTC(2026, 10, 2, 9);
  while (bytes < mb * 1048576) {
    const dir = join(root, 'projects', `-home-dev-proj${session % 12}`);
    mkdirSync(dir, { recursive: true });
    const sid = `0000${session}-1111-2222-3333-444444444444`;
    const out = createWriteStream(join(dir, `${sid}.jsonl`));
    for (let turn = 0; turn < 60; turn++) {
      const ts = new Date(start + session * 3_600_000 + turn * 20_000).toISOString();
      const base = {
        parentUuid: `u-${turn}`,
        isSidechain: false,
        userType: 'external',
        cwd: '/home/dev/proj',
        sessionId: sid,
        version: '2.1.330',
        gitBranch: 'main',
      };
      const usage = {
        input_tokens: 4 + turn,
        cache_creation_input_tokens: 1200 + turn * 10,
        cache_read_input_tokens: 20_000 + turn * 900,
        cache_creation: { ephemeral_5m_input_tokens: 1200 + turn * 10, ephemeral_1h_input_tokens: 0 },
        output_tokens: 150 + turn,
        service_tier: 'standard',
      };
      const id = `msg_${session}_${turn}`;
      const lines = [
        {
          ...base,
          type: 'user',
          message: { role: 'user', content: `Please look at step ${turn} of the refactor and fix the failing test.` },
          uuid: `a-${turn}`,
          timestamp: ts,
        },
        {
          ...base,
          type: 'assistant',
          message: {
            id,
            type: 'message',
            role: 'assistant',
            model: 'claude-sonnet-4-6',
            content: [{ type: 'thinking', thinking: 'The test fails because the sum is off by one; read add.ts first.', signature: 'Eq' + 'x'.repeat(300) }],
            stop_reason: null,
            usage,
          },
          requestId: `req_${session}_${turn}`,
          uuid: `t-${turn}`,
          timestamp: ts,
        },
        {
          ...base,
          type: 'assistant',
          message: {
            id,
            type: 'message',
            role: 'assistant',
            model: 'claude-sonnet-4-6',
            content: [{ type: 'text', text: 'Let me read the file first.' }],
            stop_reason: null,
            usage,
          },
          requestId: `req_${session}_${turn}`,
          uuid: `b-${turn}`,
          timestamp: ts,
        },
        {
          ...base,
          type: 'assistant',
          message: {
            id,
            type: 'message',
            role: 'assistant',
            model: 'claude-sonnet-4-6',
            content: [{ type: 'tool_use', id: `toolu_${turn}`, name: 'Read', input: { file_path: '/home/dev/proj/src/add.ts' } }],
            stop_reason: 'tool_use',
            usage,
          },
          requestId: `req_${session}_${turn}`,
          uuid: `c-${turn}`,
          timestamp: ts,
        },
        {
          ...base,
          type: 'user',
          message: { role: 'user', content: [{ tool_use_id: `toolu_${turn}`, type: 'tool_result', content: code }] },
          toolUseResult: { type: 'text', file: { filePath: '/home/dev/proj/src/add.ts', content: code } },
          uuid: `d-${turn}`,
          timestamp: ts,
        },
      ];
      for (const l of lines) {
        const s = JSON.stringify(l) + '\n';
        bytes += s.length;
        if (!out.write(s)) await once(out, 'drain');
      }
      responses++;
    }
    out.end();
    await once(out, 'finish');
    session++;
  }
  return { bytes, responses };
}

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): { seconds: number; status: number | null; stdout: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, status: r.status, stdout: r.stdout };
}

function ccusageBin(): string | null {
  if (process.env.CCUSAGE_BIN) return process.env.CCUSAGE_BIN;
  const r = spawnSync('sh', ['-c', 'command -v ccusage'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

export async function benchTranscripts(mb: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-transcripts-'));
  try {
    const w = await writeTranscripts(join(dir, 'claude'), mb);
    const size = w.bytes / 1048576;
    console.log(`transcripts: ${size.toFixed(0)} MB, ${w.responses} responses`);
    const cfg = join(dir, 'c.yaml');
    writeFileSync(cfg, 'store: { sqlite: ./t.db }\n');
    const bin = fileURLToPath(new URL('../../bin/tollgate.js', import.meta.url));
    const t = timed(
      process.execPath,
      [
        '-e',
        `process.on('exit', () => process.stderr.write('')); process.argv = [process.argv[0], ${JSON.stringify(bin)}, 'ingest', 'claude-transcripts', ${JSON.stringify(join(dir, 'claude', 'projects'))}, '--json', '--quiet', '--config', ${JSON.stringify(cfg)}]; import(${JSON.stringify(bin)});`,
      ],
      {},
    );
    const r = JSON.parse(t.stdout) as { imported: number; records: number };
    console.log(`tollgate ingest claude-transcripts: ${r.imported} responses stored in ${t.seconds.toFixed(1)} s = ${(size / t.seconds).toFixed(0)} MB/s`);
    const cc = ccusageBin();
    if (!cc) {
      console.log('ccusage: not installed (set CCUSAGE_BIN) — no comparison');
      return;
    }
    const c = timed(cc, ['daily', '--json', '--offline'], { CLAUDE_CONFIG_DIR: join(dir, 'claude') });
    console.log(
      `ccusage daily --offline (same files, aggregates only): ${c.status === 0 ? `${c.seconds.toFixed(1)} s = ${(size / c.seconds).toFixed(0)} MB/s` : `failed (${c.status})`}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
