// The CLI's clock, and parsing of the time arguments it accepts (--since/--until).
import { UserError } from './errors.js';

/** A time the user gave (an argument or TOLLGATE_NOW) that cannot be read: exit status 2. */
export class TimeInputError extends UserError {}

/**
 * Now, for the CLI. `TOLLGATE_NOW` (an ISO date-time or epoch milliseconds) pins it: tests run
 * the CLI on the same fixed clock as the gateway they talk to, and an operator can ask "what
 * would `budgets list` say at month end". An unreadable value is an error, never ignored.
 */
export function wallClock(): number {
  const pinned = process.env.TOLLGATE_NOW;
  if (pinned === undefined || pinned === '') return Date.now();
  const t = /^\d+$/.test(pinned) ? Number(pinned) : Date.parse(pinned);
  if (!Number.isFinite(t)) throw new TimeInputError(`TOLLGATE_NOW="${pinned}" is not a date-time: use ISO 8601 (2026-11-25T10:00:00Z) or epoch milliseconds`);
  return t;
}

/** Accepts an ISO date or date-time ("2026-11-01", "2026-11-01T09:00:00Z"), epoch
 * milliseconds, or a duration back from now ("30m", "24h", "7d", "2w"). */
export function parseTime(s: string, now = wallClock()): number {
  const v = s.trim();
  const rel = /^(\d+)\s*(s|m|h|d|w)$/i.exec(v);
  if (rel) {
    const n = Number(rel[1]);
    const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[(rel[2] as string).toLowerCase() as 's'];
    return now - n * unit;
  }
  if (/^\d{13}$/.test(v)) return Number(v);
  // A bare date means midnight UTC of that day.
  const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v);
  if (Number.isNaN(t)) throw new TimeInputError(`cannot read time "${s}": use an ISO date (2026-11-01), a date-time, or a duration like 24h or 7d`);
  return t;
}
