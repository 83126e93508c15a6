// Messages request → Bedrock InvokeModel body. Fields changed on purpose (and nothing else):
// - "model" removed (it goes in the URL), "stream" removed (the endpoint decides);
// - "anthropic_version": "bedrock-2023-05-31" added;
// - betas move from the anthropic-beta header to an "anthropic_beta" array, minus those
//   Bedrock rejects (data/routes.json);
// - "tags" removed (Claude Code's billing-group attribution; Bedrock rejects it, and tollgate
//   has already recorded it as the line's project).
import { memberValue, rewriteBody, type ScannedBody } from '../../protocol/anthropic/body.js';
import { betasFrom } from '../common/request.js';

export function bedrockBody(
  scanned: ScannedBody,
  betaHeader: string | string[] | undefined,
  version: string,
  dropBetas: readonly string[],
  dropFields: readonly string[] = [],
): Buffer {
  const betas = betasFrom(betaHeader, dropBetas);
  const inBody = memberValue(scanned, 'anthropic_beta');
  if (Array.isArray(inBody)) for (const b of inBody) if (typeof b === 'string' && !betas.includes(b) && !dropBetas.includes(b)) betas.push(b);
  const add: Record<string, string> = { anthropic_version: JSON.stringify(version) };
  if (betas.length) add.anthropic_beta = JSON.stringify(betas);
  return rewriteBody(scanned, ['model', 'stream', 'anthropic_beta', 'tags', ...dropFields], add);
}

/** The first server tool in the body Bedrock does not run (by type prefix), or null. */
export function unsupportedServerTool(scanned: ScannedBody, prefixes: readonly string[]): string | null {
  const tools = memberValue(scanned, 'tools');
  if (!Array.isArray(tools)) return null;
  for (const t of tools) {
    const type = t && typeof t === 'object' ? (t as { type?: unknown }).type : undefined;
    if (typeof type === 'string' && prefixes.some((p) => type.startsWith(p))) return type;
  }
  return null;
}

/** CountTokens wraps the InvokeModel body, base64-encoded. */
export function countTokensBody(invokeBody: Buffer): Buffer {
  return Buffer.from(JSON.stringify({ input: { invokeModel: { body: invokeBody.toString('base64') } } }));
}
