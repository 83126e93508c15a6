// Vertex responses are Anthropic-shaped already; only the model id changes back to the one
// the client asked for (Vertex reports its own id form).
import { encodeSse, SseParser } from '../../protocol/anthropic/sse.js';
import { modelSwapper } from '../common/stream.js';
import type { MappedError, ResponseTranslator } from '../types.js';

export class VertexStreamTranslator implements ResponseTranslator {
  readonly contentType = 'text/event-stream; charset=utf-8';
  error: MappedError | null = null;
  private out = '';
  private readonly parser: SseParser;

  constructor(clientModel: string) {
    const swap = modelSwapper(clientModel);
    this.parser = new SseParser((ev) => {
      if (ev.event === 'error') {
        try {
          const j = JSON.parse(ev.data) as { error?: { type?: string; message?: string } };
          this.error = { status: 500, type: j.error?.type ?? 'api_error', message: j.error?.message ?? 'error event from Vertex AI' };
        } catch {
          this.error = { status: 500, type: 'api_error', message: 'error event from Vertex AI' };
        }
      }
      this.out += encodeSse(ev.event, swap(ev.event, ev.data));
    });
  }

  push(chunk: Buffer): Buffer | null {
    this.parser.push(chunk);
    if (!this.out) return null;
    const b = Buffer.from(this.out);
    this.out = '';
    return b;
  }

  end(): Buffer | null {
    this.parser.end();
    return this.out ? Buffer.from(this.out) : null;
  }
}

export class VertexJsonTranslator implements ResponseTranslator {
  readonly contentType = 'application/json';
  error: MappedError | null = null;
  private parts: Buffer[] = [];

  constructor(private readonly clientModel: string) {}

  push(chunk: Buffer): Buffer | null {
    this.parts.push(chunk);
    return null;
  }

  end(): Buffer | null {
    const raw = Buffer.concat(this.parts);
    try {
      const j = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      if (typeof j.model === 'string') j.model = this.clientModel;
      return Buffer.from(JSON.stringify(j));
    } catch {
      return raw;
    }
  }
}
