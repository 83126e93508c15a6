// Bedrock responses → Anthropic. A stream is application/vnd.amazon.eventstream: binary frames
// decoded (CRC-checked) by AWS's own codec; each "chunk" event carries one Anthropic event as
// base64 JSON. Frames may be split across reads anywhere. The client sees the model id it asked
// for, and no Bedrock-only fields (invocation metrics are read, then removed).
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { encodeSse } from '../../protocol/anthropic/sse.js';
import type { MappedError, ResponseTranslator } from '../types.js';
import { mapBedrockError } from './errors.js';

/** A frame larger than this is not Bedrock talking: stop rather than buffer without end. */
const MAX_FRAME = 16 * 1024 * 1024;
const METRICS = 'amazon-bedrock-invocationMetrics';

type Metrics = { input: number; output: number; cacheRead: number; cacheWrite: number };

function readMetrics(m: unknown): Metrics | null {
  if (!m || typeof m !== 'object') return null;
  const o = m as Record<string, unknown>;
  const n = (v: unknown) => (typeof v === 'number' ? v : 0);
  return { input: n(o.inputTokenCount), output: n(o.outputTokenCount), cacheRead: n(o.cacheReadInputTokenCount), cacheWrite: n(o.cacheWriteInputTokenCount) };
}

export class BedrockStreamTranslator implements ResponseTranslator {
  readonly contentType = 'text/event-stream; charset=utf-8';
  error: MappedError | null = null;
  reportedUsage: Metrics | null = null;
  /** message_stop went out: the response is whole, whatever Bedrock sends after it. */
  private stopped = false;
  private pending: Buffer = Buffer.alloc(0);
  private readonly codec = new EventStreamCodec(toUtf8, fromUtf8);

  constructor(private readonly clientModel: string) {}

  push(chunk: Buffer): Buffer | null {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let out = '';
    while (this.pending.length >= 4 && !this.error && !this.stopped) {
      const total = this.pending.readUInt32BE(0);
      if (total < 16 || total > MAX_FRAME) {
        out += this.fail({ status: 502, type: 'api_error', message: `malformed event-stream frame from Bedrock (length ${total})` });
        break;
      }
      if (this.pending.length < total) break;
      const frame = this.pending.subarray(0, total);
      this.pending = this.pending.subarray(total);
      try {
        out += this.frame(frame);
      } catch (err) {
        out += this.fail({ status: 502, type: 'api_error', message: `unreadable event-stream frame from Bedrock: ${(err as Error).message}` });
      }
    }
    return out ? Buffer.from(out) : null;
  }

  end(): Buffer | null {
    if (this.pending.length && !this.error && !this.stopped)
      return Buffer.from(this.fail({ status: 502, type: 'api_error', message: 'Bedrock stream ended inside a frame' }));
    return null;
  }

  private fail(e: MappedError): string {
    this.error = e;
    return encodeSse('error', JSON.stringify({ type: 'error', error: { type: e.type, message: e.message } }));
  }

  private frame(frame: Buffer): string {
    const msg = this.codec.decode(new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength));
    const h = (name: string) => {
      const v = msg.headers[name];
      return v && typeof v.value === 'string' ? v.value : undefined;
    };
    const messageType = h(':message-type');
    const payload = toUtf8(msg.body);
    if (messageType === 'exception' || messageType === 'error') {
      let text = payload;
      try {
        const j = JSON.parse(payload) as { message?: string; Message?: string };
        text = j.message ?? j.Message ?? payload;
      } catch {
        /* keep raw */
      }
      const type = h(':exception-type') ?? h(':error-code');
      return this.fail(mapBedrockError(type, 500, text ?? ''));
    }
    if (h(':event-type') !== 'chunk') return '';
    const { bytes } = JSON.parse(payload) as { bytes?: string };
    if (!bytes) return '';
    const json = Buffer.from(bytes, 'base64').toString('utf8');
    // Most events (text deltas) are forwarded as Bedrock sent them; only the two that change
    // (message_start's model, message_stop's metrics) are parsed and rewritten.
    const quick = /^\{\s*"type"\s*:\s*"([a-z_]+)"/.exec(json);
    if (quick && quick[1] !== 'message_start' && quick[1] !== 'message_stop' && !json.includes(METRICS)) {
      return encodeSse(quick[1] as string, json);
    }
    const event = JSON.parse(json) as Record<string, unknown>;
    const type = typeof event.type === 'string' ? event.type : 'message';
    if (type === 'message_start' && event.message && typeof event.message === 'object') {
      (event.message as Record<string, unknown>).model = this.clientModel;
    }
    if (METRICS in event) {
      this.reportedUsage = readMetrics(event[METRICS]);
      delete event[METRICS];
    }
    if (type === 'message_stop') this.stopped = true;
    return encodeSse(type, JSON.stringify(event));
  }
}

/** InvokeModel (non-streaming) JSON: the model id swapped back; CountTokens → Anthropic's shape. */
export class BedrockJsonTranslator implements ResponseTranslator {
  readonly contentType = 'application/json';
  error: MappedError | null = null;
  private parts: Buffer[] = [];

  constructor(
    private readonly clientModel: string,
    private readonly countTokens: boolean,
  ) {}

  push(chunk: Buffer): Buffer | null {
    this.parts.push(chunk);
    return null;
  }

  end(): Buffer | null {
    const text = Buffer.concat(this.parts).toString('utf8');
    try {
      const j = JSON.parse(text) as Record<string, unknown>;
      if (this.countTokens) return Buffer.from(JSON.stringify({ input_tokens: typeof j.inputTokens === 'number' ? j.inputTokens : 0 }));
      if ('model' in j) j.model = this.clientModel;
      delete j[METRICS];
      return Buffer.from(JSON.stringify(j));
    } catch {
      this.error = { status: 502, type: 'api_error', message: 'Bedrock returned a body that is not JSON' };
      return Buffer.from(JSON.stringify({ type: 'error', error: { type: 'api_error', message: this.error.message } }));
    }
  }
}
