// The real Claude Code CLI (npm @anthropic-ai/claude-code), headless, offline against loopback:
// `claude -p … --output-format json` in a scratch HOME, with none of this process's Anthropic,
// cloud or telemetry variables, only the ones a test gives it.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/util/paths.js';

const run = promisify(execFile);
export const CLAUDE = resolve(packageRoot(), 'node_modules', '.bin', 'claude');

export interface ClaudeResult {
  session_id: string;
  total_cost_usd: number;
  is_error: boolean;
  result: string;
  usage: { input_tokens: number; output_tokens: number; cache_read_input_tokens: number; cache_creation_input_tokens: number };
}

export async function runClaude(home: string, env: Record<string, string>, args: string[] = [], prompt = 'say hello'): Promise<ClaudeResult> {
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // FAKETIME_SHARED: libfaketime's handle in this process, which the CLI must not inherit
    // (lets the suite run a year ahead under LD_PRELOAD=libfaketime FAKETIME=+365d).
    if (!/^(ANTHROPIC_|CLAUDE_|AWS_|GOOGLE_|CLOUD_ML|VERTEX_|OTEL_|FAKETIME_SHARED|GCE_METADATA)/.test(k)) clean[k] = v;
  }
  const { stdout } = await run(CLAUDE, ['-p', prompt, '--output-format', 'json', ...args], {
    env: { ...clean, HOME: home, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', ...env },
    cwd: home,
    timeout: 90_000,
  });
  return JSON.parse(stdout) as ClaudeResult;
}
