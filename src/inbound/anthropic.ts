// The Anthropic Messages API as clients send it (Claude Code's default mode): the body is
// checked only as far as the gateway needs it (the model, duplicate keys, stream), and on the
// fast path not parsed at all.
import type { IncomingMessage } from 'node:http';
import { JsonSyntaxError, leadingModel, memberValue, scanBody, type ScannedBody } from '../protocol/anthropic/body.js';
import { decodeRequestBody, readBody } from '../server/body.js';
import { GatewayError } from '../server/errors.js';
import { headerValue } from '../server/headers.js';
import type { InboundProtocol, ParsedRequest } from './types.js';

/** Claude Code's session: the x-claude-code-session-id header, else metadata.user_id, which is
 * a JSON string since 2.1.78 and `user_<hex>_account_<uuid>_session_<uuid>` before. */
export function sessionIdOf(headers: IncomingMessage['headers'], scan: () => ScannedBody): string | null {
  const h = headerValue(headers, 'x-claude-code-session-id');
  if (h) return h.slice(0, 200);
  let meta: unknown;
  try {
    meta = memberValue(scan(), 'metadata');
  } catch {
    return null; // A malformed body: the upstream refuses it, there is no session to record.
  }
  const uid = meta && typeof meta === 'object' ? (meta as Record<string, unknown>).user_id : undefined;
  if (typeof uid !== 'string') return null;
  if (uid.startsWith('{')) {
    try {
      const j = JSON.parse(uid) as Record<string, unknown>;
      return typeof j.session_id === 'string' && j.session_id ? j.session_id.slice(0, 200) : null;
    } catch {
      return null;
    }
  }
  const m = /_session_([0-9a-f-]{8,})$/i.exec(uid);
  return m?.[1] ?? null;
}

/** Model ids in every route's form: first-party ids and aliases, "[1m]", Bedrock profile ids
 * and ARNs, Vertex "@date" ids. Nothing else is logged, stored or used as a map key. */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@/[\]-]*$/;
const MAX_MODEL_LENGTH = 256;

export function checkModelName(model: string): string {
  if (model.length <= MAX_MODEL_LENGTH && MODEL_NAME.test(model)) return model;
  // Quote only an escaped prefix: the name may be megabytes long or hold a newline.
  const shown = JSON.stringify(model.slice(0, 40)) + (model.length > 40 ? '…' : '');
  throw new GatewayError(
    'TG_BAD_REQUEST',
    model.length > MAX_MODEL_LENGTH
      ? `model: ${model.length} characters, at most ${MAX_MODEL_LENGTH} (${shown})`
      : `model: ${shown} is not a model id (letters, digits and . _ - : @ / [ ] only)`,
  );
}

/** Validates the fields the gateway relies on; throws the gateway's 400s. */
function checkBody(scan: () => ScannedBody): { model: string } {
  let scanned: ScannedBody;
  let model: unknown;
  let stream: unknown;
  try {
    scanned = scan();
    model = memberValue(scanned, 'model');
    stream = memberValue(scanned, 'stream');
  } catch (err) {
    if (err instanceof JsonSyntaxError) throw new GatewayError('TG_BAD_JSON', `request body is not valid JSON: ${err.message}`);
    throw new GatewayError('TG_BAD_JSON', 'request body is not valid JSON');
  }
  if (scanned.duplicates.length > 0) {
    const keys = scanned.duplicates
      .slice(0, 5)
      .map((k) => JSON.stringify(k.slice(0, 40)))
      .join(', ');
    throw new GatewayError(
      'TG_BAD_REQUEST',
      `${keys} ${scanned.duplicates.length === 1 ? 'appears' : 'appear'} more than once at the top level of the request body; send each field once`,
    );
  }
  if (typeof model !== 'string' || model.trim() === '') {
    throw new GatewayError('TG_BAD_REQUEST', model === undefined ? 'model: field required' : 'model: expected a non-empty string');
  }
  if (stream !== undefined && typeof stream !== 'boolean') throw new GatewayError('TG_BAD_REQUEST', 'stream: expected a boolean');
  return { model: checkModelName(model) };
}

export const anthropicMessages: InboundProtocol = {
  name: 'anthropic',
  async read(req: IncomingMessage, limit: number): Promise<ParsedRequest> {
    const rawBody = await readBody(req, limit);
    const decoded = decodeRequestBody(rawBody, headerValue(req.headers, 'content-encoding'), limit);
    let cached: ScannedBody | null = null;
    const scanned = (): ScannedBody => (cached ??= scanBody(decoded));
    // Fast path: with the model first in the body (as Claude Code sends it) and no other key
    // that could read as "model", the pass-through route needs nothing else from a body of
    // hundreds of KB, so it is not scanned at all; JSON validity is then the upstream's to
    // judge (it answers 400 invalid_request_error, passed back as is). Any other body, and any
    // body for a translating route, is fully checked before anything is sent upstream.
    const leading = leadingModel(decoded);
    const model = leading === null ? checkBody(scanned).model : checkModelName(leading);
    return { rawBody, decodedLength: decoded.length, model, scanned, sessionId: sessionIdOf(req.headers, scanned) };
  },
};
