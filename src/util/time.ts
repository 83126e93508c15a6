// Parsing of the time arguments the CLI accepts (--since/--until).

/** Accepts an ISO date or date-time ("2026-11-01", "2026-11-01T09:00:00Z"), epoch
 * milliseconds, or a duration back from now ("30m", "24h", "7d", "2w"). */
export function parseTime(s: string, now = Date.now()): number {
  const v = s.trim();
  const rel = /^(\d+)\s*(s|m|h|d|w)$/i.exec(v);
  if (rel) {
    const n = Number(rel[1]);
    const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[(rel[2] as string).toLowerCase() as 's'] ;
    return now - n * unit;
  }
  if (/^\d{13}$/.test(v)) return Number(v);
  // A bare date means midnight UTC of that day.
  const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v);
  if (Number.isNaN(t)) throw new Error(`cannot read time "${s}": use an ISO date (2026-11-01), a date-time, or a duration like 24h or 7d`);
  return t;
}
