// Who is who across systems: IAM ARNs (or an assumed-role session name), emails, Claude Code's
// OTel user.id — mapped to tollgate's users and teams, so imported usage joins the ledger's people.
import type Database from 'better-sqlite3';

export interface Identity {
  external_id: string;
  user: string;
  team: string | null;
}

export class IdentityMap {
  private readonly map = new Map<string, Identity>();

  constructor(db: Database.Database) {
    for (const r of db.prepare('SELECT external_id, user, team FROM identities').all() as Identity[]) this.map.set(r.external_id.toLowerCase(), r);
  }

  /** Exact match; for an assumed-role ARN also the session name (often an email) and the role. */
  resolve(principal: string | null): Identity | null {
    if (!principal) return null;
    const p = principal.toLowerCase();
    const exact = this.map.get(p);
    if (exact) return exact;
    const m = /^arn:aws:sts::(\d+):assumed-role\/([^/]+)\/(.+)$/.exec(principal);
    if (m) return this.map.get(m[3]!.toLowerCase()) ?? this.map.get(`arn:aws:iam::${m[1]}:role/${m[2]}`.toLowerCase()) ?? null;
    const user = /^arn:aws:iam::\d+:user\/(.+)$/.exec(principal);
    if (user) return this.map.get(user[1]!.toLowerCase()) ?? null;
    return null;
  }
}

export function addIdentity(db: Database.Database, i: Identity): void {
  db.prepare('INSERT OR REPLACE INTO identities (external_id, user, team, created_at) VALUES (?, ?, ?, ?)').run(i.external_id, i.user, i.team, Date.now());
}

export function removeIdentity(db: Database.Database, externalId: string): boolean {
  return db.prepare('DELETE FROM identities WHERE external_id = ?').run(externalId).changes > 0;
}

export function listIdentities(db: Database.Database): Identity[] {
  return db.prepare('SELECT external_id, user, team FROM identities ORDER BY user, external_id').all() as Identity[];
}
