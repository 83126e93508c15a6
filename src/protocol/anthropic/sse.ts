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

  /** `onEvent` is called for each complete event, in order. */
  constructor(private readonly onEvent: (ev: SseEvent) => void) {}

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
  }

  private line(buf: Buffer, start: number, end: number): void {
    if (start === end) {
      if (this.sawField) {
        const ev = { event: this.event || 'message', data: this.data.join('\n') };
        this.reset();
        this.onEvent(ev);
      }
      return;
    }
    if (buf[start] === 0x3a /* ":" comment */) return;
    const colon = buf.indexOf(0x3a, start);
    const fieldEnd = colon === -1 || colon > end ? end : colon;
    let valueStart = fieldEnd === end ? end : fieldEnd + 1;
    if (valueStart < end && buf[valueStart] === 0x20) valueStart++;
    const field = buf.toString('latin1', start, fieldEnd);
    if (field === 'event') {
      this.event = buf.toString('utf8', valueStart, end);
      this.sawField = true;
    } else if (field === 'data') {
      this.data.push(buf.toString('utf8', valueStart, end));
      this.sawField = true;
    }
  }
}

export function encodeSse(event: string, data: string): string {
  return `event: ${event}\ndata: ${data}\n\n`;
}
