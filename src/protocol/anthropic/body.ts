// Reads the few top-level fields the gateway needs from a Messages request body (model,
// stream, metadata, max_tokens) without building the whole object. Claude Code bodies are
// hundreds of KB of conversation; JSON.parse would allocate all of it on every request, while
// this scanner jumps from quote to quote across string contents with Buffer.indexOf (native
// memchr) and allocates only the fields asked for. It checks the JSON grammar outside strings
// (brackets, commas, colons, numbers, literals, unterminated strings) so malformed bodies get
// the gateway's own 400. Inside strings it does not judge escape sequences or raw control
// characters; the upstream rejects those with its own 400 invalid_request_error.

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at byte ${offset}`);
  }
}

export interface MemberRange {
  /** Offset of the member's key (its opening quote). */
  keyStart: number;
  /** Offsets of the value: [valueStart, valueEnd). */
  valueStart: number;
  valueEnd: number;
}

export interface ScannedBody {
  buf: Buffer;
  /** Top-level members by key; a repeated key keeps the last occurrence, as JSON.parse does. */
  members: Map<string, MemberRange>;
  /** Top-level keys that occur more than once (the gateway refuses such bodies: it must read
   * "model" exactly as the upstream does, and parsers disagree on which copy wins). */
  duplicates: string[];
  /** Offset of the closing brace of the top-level object. */
  closeBrace: number;
}

const Q = 0x22,
  BS = 0x5c,
  LB = 0x7b,
  RB = 0x7d,
  LS = 0x5b,
  RS = 0x5d,
  COMMA = 0x2c,
  COLON = 0x3a;
const MAX_DEPTH = 512;

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

class Scanner {
  constructor(readonly buf: Buffer) {}

  ws(pos: number): number {
    const b = this.buf;
    while (pos < b.length && isWs(b[pos] as number)) pos++;
    return pos;
  }

  /** pos at the opening quote; returns the offset after the closing quote. A quote ends the
   * string unless an odd number of backslashes precedes it, so the scan jumps from quote to
   * quote; escape sequences are left for the upstream to judge (it rejects bad ones with 400). */
  string(pos: number): number {
    const b = this.buf;
    let p = pos + 1;
    for (;;) {
      const q = b.indexOf(Q, p);
      if (q === -1) throw new JsonSyntaxError('unterminated string', pos);
      let bs = 0;
      while (b[q - 1 - bs] === BS && q - 1 - bs > pos) bs++;
      if ((bs & 1) === 0) return q + 1;
      p = q + 1;
    }
  }

  number(pos: number): number {
    const b = this.buf;
    let p = pos;
    if (b[p] === 0x2d) p++;
    if (b[p] === 0x30) p++;
    else if ((b[p] ?? 0) >= 0x31 && (b[p] ?? 0) <= 0x39) {
      while ((b[p] ?? 0) >= 0x30 && (b[p] ?? 0) <= 0x39) p++;
    } else throw new JsonSyntaxError('bad number', pos);
    if (b[p] === 0x2e) {
      p++;
      if (!((b[p] ?? 0) >= 0x30 && (b[p] ?? 0) <= 0x39)) throw new JsonSyntaxError('bad number', pos);
      while ((b[p] ?? 0) >= 0x30 && (b[p] ?? 0) <= 0x39) p++;
    }
    if (b[p] === 0x65 || b[p] === 0x45) {
      p++;
      if (b[p] === 0x2b || b[p] === 0x2d) p++;
      if (!((b[p] ?? 0) >= 0x30 && (b[p] ?? 0) <= 0x39)) throw new JsonSyntaxError('bad number', pos);
      while ((b[p] ?? 0) >= 0x30 && (b[p] ?? 0) <= 0x39) p++;
    }
    return p;
  }

  literal(pos: number, word: string): number {
    for (let i = 0; i < word.length; i++) {
      if (this.buf[pos + i] !== word.charCodeAt(i)) throw new JsonSyntaxError('unexpected token', pos);
    }
    return pos + word.length;
  }

  /** Skips one value of any kind; iterative so hostile nesting cannot overflow the stack. */
  value(pos: number): number {
    const b = this.buf;
    const stack: number[] = [];
    let p = this.ws(pos);
    for (;;) {
      // Expecting a value at p.
      const c = b[p];
      if (c === undefined) throw new JsonSyntaxError('unexpected end of input', p);
      if (c === LB || c === LS) {
        if (stack.length >= MAX_DEPTH) throw new JsonSyntaxError('nesting too deep', p);
        stack.push(c);
        p = this.ws(p + 1);
        const close = c === LB ? RB : RS;
        if (b[p] === close) {
          stack.pop();
          p++;
        } else {
          if (c === LB) p = this.key(p);
          continue;
        }
      } else if (c === Q) p = this.string(p);
      else if (c === 0x74) p = this.literal(p, 'true');
      else if (c === 0x66) p = this.literal(p, 'false');
      else if (c === 0x6e) p = this.literal(p, 'null');
      else p = this.number(p);
      // After a value: close containers or move to the next element.
      for (;;) {
        if (stack.length === 0) return p;
        p = this.ws(p);
        const top = stack[stack.length - 1];
        const d = b[p];
        if (d === COMMA) {
          p = this.ws(p + 1);
          if (top === LB) p = this.key(p);
          break;
        }
        if ((top === LB && d === RB) || (top === LS && d === RS)) {
          stack.pop();
          p++;
          continue;
        }
        throw new JsonSyntaxError(d === undefined ? 'unexpected end of input' : 'expected "," or a closing bracket', p);
      }
    }
  }

  /** pos at a member key; returns the offset where its value starts. */
  key(pos: number): number {
    if (this.buf[pos] !== Q) throw new JsonSyntaxError('expected a string key', pos);
    let p = this.ws(this.string(pos));
    if (this.buf[p] !== COLON) throw new JsonSyntaxError('expected ":"', p);
    p = this.ws(p + 1);
    return p;
  }
}

function decodeKey(buf: Buffer, start: number, end: number): string {
  // Keys are short; decode escapes with JSON.parse only when there is one.
  const raw = buf.toString('utf8', start, end);
  return raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
}

/** Validates `buf` as a JSON object and indexes its top-level members. */
export function scanBody(buf: Buffer): ScannedBody {
  const s = new Scanner(buf);
  let p = s.ws(0);
  if (buf[p] !== LB) throw new JsonSyntaxError('expected a JSON object', p);
  const members = new Map<string, MemberRange>();
  const duplicates: string[] = [];
  p = s.ws(p + 1);
  let closeBrace: number;
  if (buf[p] === RB) closeBrace = p;
  else {
    for (;;) {
      const keyStart = p;
      if (buf[p] !== Q) throw new JsonSyntaxError('expected a string key', p);
      const keyEnd = s.string(p);
      p = s.ws(keyEnd);
      if (buf[p] !== COLON) throw new JsonSyntaxError('expected ":"', p);
      const valueStart = s.ws(p + 1);
      const valueEnd = s.value(valueStart);
      const key = decodeKey(buf, keyStart, keyEnd);
      if (members.has(key) && !duplicates.includes(key)) duplicates.push(key);
      members.set(key, { keyStart, valueStart, valueEnd });
      p = s.ws(valueEnd);
      if (buf[p] === COMMA) {
        p = s.ws(p + 1);
        continue;
      }
      if (buf[p] === RB) {
        closeBrace = p;
        break;
      }
      throw new JsonSyntaxError(buf[p] === undefined ? 'unexpected end of input' : 'expected "," or "}"', p);
    }
  }
  if (s.ws(closeBrace + 1) !== buf.length) throw new JsonSyntaxError('unexpected data after the JSON object', s.ws(closeBrace + 1));
  return { buf, members, duplicates, closeBrace };
}

/** The parsed value of one top-level member, or undefined when absent. */
export function memberValue(body: ScannedBody, key: string): unknown {
  const m = body.members.get(key);
  if (!m) return undefined;
  return JSON.parse(body.buf.toString('utf8', m.valueStart, m.valueEnd));
}

/**
 * The model, when it is the body's first member (Claude Code always sends it first). Lets the
 * gateway dispatch a pass-through request before the full scan of a large body, which then
 * runs while the upstream works. Returns null when the body does not start that way; the
 * caller then scans first.
 */
export function leadingModel(buf: Buffer): string | null {
  const s = new Scanner(buf);
  let p = s.ws(0);
  if (buf[p] !== LB) return null;
  p = s.ws(p + 1);
  // '"model"' as bytes
  const KEY = '"model"';
  if (buf.length < p + KEY.length || buf.toString('latin1', p, p + KEY.length) !== KEY) return null;
  p = s.ws(p + KEY.length);
  if (buf[p] !== COLON) return null;
  p = s.ws(p + 1);
  if (buf[p] !== Q) return null;
  let end: number;
  let v: unknown;
  try {
    end = s.string(p);
    v = JSON.parse(buf.toString('utf8', p, end));
  } catch {
    return null;
  }
  if (typeof v !== 'string' || v.trim() === '') return null;
  // A second top-level "model" would be read by the upstream (last wins) while the gateway
  // priced and policed the first. Any key that decodes to model either holds the literal
  // bytes model" or spells a letter as an escape, all of which (\u006d \u006f \u0064 \u0065
  // \u006c, either case) contain "006". Two searches rule both out (about 60 µs for 500 KB:
  // indexOf runs memchr on the needle's first byte, and "0" is rare in conversation text);
  // when either occurs anywhere, even inside a string, the caller scans the whole body.
  if (buf.indexOf(MODEL_KEY, end) !== -1 || buf.indexOf(MODEL_ESCAPE) !== -1) return null;
  return v;
}

const MODEL_KEY = Buffer.from('model"');
const MODEL_ESCAPE = Buffer.from('006');

/**
 * A copy of the body object without the `remove` members and with `add` appended (values as
 * JSON text). Member slices are copied as bytes: nothing is re-serialised, so a 500 KB
 * conversation costs one memcpy. Used by routes whose body differs from Anthropic's.
 */
export function rewriteBody(body: ScannedBody, remove: readonly string[], add: Record<string, string> = {}): Buffer {
  const parts: Buffer[] = [Buffer.from('{')];
  let first = true;
  for (const [key, m] of body.members) {
    if (remove.includes(key) || key in add) continue;
    if (!first) parts.push(Buffer.from(','));
    parts.push(body.buf.subarray(m.keyStart, m.valueEnd));
    first = false;
  }
  for (const [key, json] of Object.entries(add)) {
    parts.push(Buffer.from(`${first ? '' : ','}${JSON.stringify(key)}:${json}`));
    first = false;
  }
  parts.push(Buffer.from('}'));
  return Buffer.concat(parts);
}
