// Which machines run which managed settings. With CLAUDE_CODE_GATEWAY_HINT_HEADERS=1 in the
// settings served, Claude Code reports the checksum of the managed settings it loaded on each
// model request; the gateway keeps the latest per key or sign-in (written only when it changes,
// or hourly), and `tollgate fleet` compares it with what each identity should run. The checksum
// is treated as sensitive (never logged) and is no security control: a client can send any.
import type { Config } from '../config/schema.js';
import type { FleetReport, KeyRecord, Store } from '../store/types.js';
import { settingsChecksum, settingsFor } from './managed-settings.js';

const REWRITE_AFTER_MS = 3_600_000;
const MAX_REMEMBERED = 100_000;

export class FleetWatch {
  private readonly last = new Map<string, { checksum: string; at: number }>();

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
  ) {}

  report(key: KeyRecord, checksum: string): void {
    if (!/^sha256:[0-9a-f]{64}$/.test(checksum)) return;
    const t = this.now();
    const prev = this.last.get(key.id);
    if (prev && prev.checksum === checksum && t - prev.at < REWRITE_AFTER_MS) return;
    if (this.last.size >= MAX_REMEMBERED) this.last.clear();
    this.last.set(key.id, { checksum, at: t });
    this.store.reportSettings({ identity: key.id, user: key.user, team: key.team, groups: key.groups ?? [], checksum, seen_at: t });
  }
}

export type FleetStatus = 'current' | 'stale' | 'edited' | 'unmanaged';

export interface FleetRow extends FleetReport {
  expected: string | null;
  status: FleetStatus;
}

/**
 * current: runs what it should; stale: runs settings this gateway served before; edited: runs
 * settings this gateway never served (changed on the machine); unmanaged: runs managed settings
 * though none are meant for it.
 */
export function fleetRows(reports: FleetReport[], served: string[], entries: Config['managed_settings']): FleetRow[] {
  const known = new Set(served);
  return reports.map((r) => {
    const settings = settingsFor(entries, { team: r.team, groups: r.groups });
    const expected = settings ? settingsChecksum(settings) : null;
    const status: FleetStatus = expected === null ? 'unmanaged' : r.checksum === expected ? 'current' : known.has(r.checksum) ? 'stale' : 'edited';
    return { ...r, expected, status };
  });
}
