// Structured logger to stderr. Callers pass facts, never request bodies or secrets; the fields
// that could carry one (a header, a token) are not passed in the first place, and a value that
// looks like a key or bearer is masked here as a last line of defence.
export type Level = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'text' | 'json';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** Whether a line at this level would be written (skip building fields that would not be). */
  enabled(level: Level): boolean;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/g;
/** Secrets tollgate knows the shape of: its virtual keys (tg_ + 43 characters; request ids are
 * shorter), refresh tokens, signed access tokens (JWTs), Anthropic keys, bearer values. */
const SECRET = /\b(tgr?_[A-Za-z0-9_-]{40,}|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+|sk-ant-[A-Za-z0-9_-]{8,}|Bearer\s+[A-Za-z0-9._~+/-]{12,}=*)/g;

function mask(s: string): string {
  return s.replace(SECRET, (m) => `${m.slice(0, 8)}…[redacted]`);
}

export interface LoggerOptions {
  level?: Level;
  format?: LogFormat;
  sink?: (line: string) => void;
  now?: () => number;
}

export function createLogger(levelOrOpts: Level | LoggerOptions = 'info', sink: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  const o: LoggerOptions = typeof levelOrOpts === 'string' ? { level: levelOrOpts, sink } : { sink, ...levelOrOpts };
  const level = o.level ?? 'info';
  const out = o.sink ?? sink;
  const now = o.now ?? Date.now;
  const json = o.format === 'json';
  const emit = (lv: Level, msg: string, fields?: Record<string, unknown>) => {
    if (order[lv] < order[level]) return;
    const time = new Date(now()).toISOString();
    if (json) {
      // One object per line, time/level/msg first (what log stacks index on), then the facts;
      // spliced as text rather than spread into a new object (the access line is per request).
      const rest = fields ? JSON.stringify(fields) : '{}';
      out(mask(`{"time":"${time}","level":"${lv}","msg":${JSON.stringify(msg)}${rest.length > 2 ? ',' + rest.slice(1) : '}'}`));
      return;
    }
    const extra = fields && Object.keys(fields).length ? ' ' + JSON.stringify(fields) : '';
    // One event, one line: a control character in a message (say, from a client's input)
    // cannot forge another log line. Fields are JSON, which escapes them already.
    out(mask(`${time} ${lv.toUpperCase()} ${msg.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}${extra}`));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    enabled: (lv) => order[lv] >= order[level],
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {}, enabled: () => false };
