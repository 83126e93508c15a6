// Messages request → Vertex rawPredict body. Fields changed on purpose (and nothing else):
// - "model" removed (it goes in the URL), except for count-tokens which keeps it;
// - "anthropic_version": "vertex-2023-10-16" added; "stream" stays;
// - betas stay in the anthropic-beta header (minus any the route rejects);
// - "tags" removed (Claude Code's billing-group attribution; Vertex rejects it, and tollgate has
//   already recorded it as the line's project).
import { rewriteBody, type ScannedBody } from '../../protocol/anthropic/body.js';
import { betasFrom } from '../common/request.js';

export function vertexBody(scanned: ScannedBody, version: string, countTokens: boolean, upstreamModel: string, dropFields: readonly string[] = []): Buffer {
  const add: Record<string, string> = { anthropic_version: JSON.stringify(version) };
  if (countTokens) add.model = JSON.stringify(upstreamModel);
  return rewriteBody(scanned, ['model', 'tags', ...dropFields], add);
}

export function vertexHeaders(betaHeader: string | string[] | undefined, drop: readonly string[]): Record<string, string> {
  const betas = betasFrom(betaHeader, drop);
  return { 'content-type': 'application/json', ...(betas.length ? { 'anthropic-beta': betas.join(',') } : {}) };
}
