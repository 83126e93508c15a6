// Claude Code's managed settings, served to each signed-in machine (its gateway protocol):
// composed per group from the config, wrapped with a checksum Claude Code computes the same way
// (SHA-256 of the settings with keys sorted at every level and no whitespace), with ETag and 304.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/schema.js';
import { headerValue } from '../server/headers.js';
import type { KeyRecord } from '../store/types.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** JSON with object keys sorted at every level and no whitespace. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x === undefined ? null : x)).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export function settingsChecksum(settings: unknown): string {
  return 'sha256:' + createHash('sha256').update(canonicalJson(settings)).digest('hex');
}

function merge(into: Record<string, Json>, from: Record<string, Json>): Record<string, Json> {
  for (const [k, v] of Object.entries(from)) {
    const cur = into[k];
    into[k] = v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur) ? merge({ ...cur }, v) : v;
  }
  return into;
}

/** The settings for an identity: every matching entry merged in config order; null: no policy. */
export function settingsFor(entries: Config['managed_settings'], who: Pick<KeyRecord, 'team' | 'groups'>): Record<string, Json> | null {
  let out: Record<string, Json> | null = null;
  const groups = who.groups ?? [];
  for (const e of entries) {
    const byGroup = e.groups?.some((g) => g === '*' || groups.includes(g));
    const byTeam = e.teams?.some((t) => t === '*' || t === who.team);
    if (!byGroup && !byTeam) continue;
    out = merge(out ?? {}, JSON.parse(JSON.stringify(e.settings)) as Record<string, Json>);
  }
  return out;
}

/** GET /managed/settings for an authenticated identity. */
export function serveManagedSettings(
  req: IncomingMessage,
  res: ServerResponse,
  entries: Config['managed_settings'],
  who: KeyRecord,
  served: (checksum: string) => void = () => {},
): void {
  const settings = settingsFor(entries, who);
  if (!settings) {
    const body = JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'no managed settings for this user' } });
    res.writeHead(404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(body);
    return;
  }
  const checksum = settingsChecksum(settings);
  served(checksum);
  const etag = `"${checksum}"`;
  const inm = headerValue(req.headers, 'if-none-match');
  // 304 only for a matching validator; "*" (Claude Desktop) is answered as usual.
  if (inm && inm !== '*' && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)) {
    res.writeHead(304, { etag, 'cache-control': 'no-cache' });
    res.end();
    return;
  }
  // A stable id for this policy content (the same settings, the same uuid).
  const h = checksum.slice(7, 39);
  const uuid = `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 17), 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  const body = JSON.stringify({ uuid, checksum, settings });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), etag, 'cache-control': 'no-cache' });
  res.end(body);
}
