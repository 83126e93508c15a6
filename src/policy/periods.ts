// Budget periods: calendar day, week (from Monday) and month in an IANA time zone, or a fixed
// total. Boundaries are exact instants, DST included: a "day" in Europe/Berlin can be 23 or 25
// hours long.
import type { BudgetPeriod } from '../store/types.js';

const fmtCache = new Map<string, Intl.DateTimeFormat>();

function parts(t: number, tz: string): { y: number; m: number; d: number; wd: number } {
  let f = fmtCache.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, year: 'numeric', month: 'numeric', day: 'numeric', weekday: 'short' });
    fmtCache.set(tz, f);
  }
  const p: Record<string, string> = {};
  for (const x of f.formatToParts(new Date(t))) p[x.type] = x.value;
  const wd = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(p.weekday ?? 'Mon');
  return { y: Number(p.year), m: Number(p.month), d: Number(p.day), wd };
}

/** Offset of the zone from UTC at instant t, in ms (wall clock − UTC). */
function offset(t: number, tz: string): number {
  const f = new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  const p: Record<string, string> = {};
  for (const x of f.formatToParts(new Date(t))) p[x.type] = x.value;
  const wall = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
  return wall - Math.floor(t / 1000) * 1000;
}

/** The instant local midnight of y-m-d begins in tz. */
function localMidnight(y: number, m: number, d: number, tz: string): number {
  const guess = Date.UTC(y, m - 1, d);
  let t = guess - offset(guess, tz);
  // Across a DST change the offset at the guess and at the answer can differ: settle it.
  t = guess - offset(t, tz);
  return t;
}

export interface PeriodWindow {
  start: number;
  /** Exclusive end; Infinity for a total. */
  end: number;
}

export function periodAt(period: BudgetPeriod, t: number, tz: string): PeriodWindow {
  if (period === 'total') return { start: 0, end: Infinity };
  const { y, m, d, wd } = parts(t, tz);
  if (period === 'day') {
    const next = new Date(Date.UTC(y, m - 1, d + 1));
    return { start: localMidnight(y, m, d, tz), end: localMidnight(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), tz) };
  }
  if (period === 'week') {
    const s = new Date(Date.UTC(y, m - 1, d - wd));
    const e = new Date(Date.UTC(y, m - 1, d - wd + 7));
    return {
      start: localMidnight(s.getUTCFullYear(), s.getUTCMonth() + 1, s.getUTCDate(), tz),
      end: localMidnight(e.getUTCFullYear(), e.getUTCMonth() + 1, e.getUTCDate(), tz),
    };
  }
  const n = new Date(Date.UTC(y, m, 1));
  return { start: localMidnight(y, m, 1, tz), end: localMidnight(n.getUTCFullYear(), n.getUTCMonth() + 1, 1, tz) };
}
