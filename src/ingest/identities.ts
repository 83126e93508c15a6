// Who is who across systems: IAM ARNs (or an assumed-role session name), emails, Claude Code's
// OTel user.id — mapped to tollgate's users and teams, so imported usage joins the ledger's people.
import type { Identity } from '../store/types.js';

export class IdentityMap {
  private readonly map = new Map<string, Identity>();

  constructor(list: Identity[]) {
    for (const r of list) this.map.set(r.external_id.toLowerCase(), r);
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
