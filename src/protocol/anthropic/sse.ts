// Incremental Server-Sent Events parser (WHATWG EventSource framing) for Anthropic streams.
// Bytes arrive split anywhere, including inside a UTF-8 sequence or between "\r" and "\n";
// only an incomplete line is carried over between chunks.

export interface SseEvent {
  event: string;
  data: string;
}

export class SseParser {
  private carry: Buffer | null = null;
  private event = '';
  private data: string[] = [];
  private sawField = false;

  /** `onEvent` is called for each complete event, in order. With `want`, the data of events
   * whose `event:` line it rejects is not decoded (the meter needs 4 of Anthropic's ~10 event
   * types, and text deltas are most of a stream's bytes). */
  constructor(
    private readonly onEvent: (ev: SseEvent) => void,
    private readonly want?: (event: string) => boolean,
  ) {}
  private skip = false;

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.carry) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(0x0a, start);
      if (nl === -1) break;
      let end = nl;
      if (end > start && buf[end - 1] === 0x0d) end--;
      this.line(buf, start, end);
      start = nl + 1;
    }
    if (start < buf.length) this.carry = buf.subarray(start);
  }

  /** End of stream: a final event without its blank line is discarded, as EventSource does. */
  end(): void {
    this.carry = null;
    this.reset();
  }

  private reset(): void {
    this.event = '';
    this.data = [];
    this.sawField = false;
    this.skip = false;
  }

  private line(buf: Buffer, start: number, end: number): void {
    if (start === end) {
      if (this.sawField && !this.skip) {
        const ev = { event: this.event || 'message', data: this.data.join('\n') };
        this.reset();
        this.onEvent(ev);
      } else {
        this.reset();
      }
      return;
    }
    const c = buf[start];
    // Field names compared as bytes: "event" and "data" are the only ones that matter here.
    if (
      c === 0x64 /* d */ &&
      end - start >= 4 &&
      buf[start + 1] === 0x61 &&
      buf[start + 2] === 0x74 &&
      buf[start + 3] === 0x61 &&
      (end - start === 4 || buf[start + 4] === 0x3a)
    ) {
      this.sawField = true;
      if (!this.skip) this.data.push(buf.toString('utf8', this.valueStart(buf, start + 4, end), end));
    } else if (
      c === 0x65 /* e */ &&
      end - start >= 5 &&
      buf.toString('latin1', start, start + 5) === 'event' &&
      (end - start === 5 || buf[start + 5] === 0x3a)
    ) {
      this.event = buf.toString('utf8', this.valueStart(buf, start + 5, end), end);
      this.sawField = true;
      if (this.want && !this.want(this.event)) this.skip = true;
    }
    // Comments (":") and other fields (id, retry) carry nothing the gateway uses.
  }

  private valueStart(buf: Buffer, fieldEnd: number, end: number): number {
    if (fieldEnd === end) return end;
    let v = fieldEnd + 1; // past ":"
    if (v < end && buf[v] === 0x20) v++;
    return v;
  }
}

export function encodeSse(event: string, data: string): string {
  return `event: ${event}\ndata: ${data}\n\n`;
}
