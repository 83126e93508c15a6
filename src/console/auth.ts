// Who may use the console: the admin token (role admin), or the company's identity provider
// for members of console.admin_groups (admin) or console.read_groups (read-only).
import type { IncomingMessage } from 'node:http';
import type { Config } from '../config/schema.js';
import { IdentityProvider, type IdpIdentity } from '../identity/oidc.js';
import { SessionSigner, type ConsoleSession, type Role } from './session.js';

export class ConsoleAuth {
  readonly signer: SessionSigner;
  /** The IdP client for console sign-in (its own redirect URI), or null without auth.oidc or
   * console groups. */
  readonly idp: IdentityProvider | null;
  /** Whether sessions survive a restart and work on every replica (a configured or derived secret). */
  readonly stableSecret: boolean;

  constructor(
    private readonly config: Config,
    adminToken: string,
    readonly publicUrl: () => string,
    private readonly wallNow: () => number,
  ) {
    const secret = config.console.session_secret ?? (adminToken ? `admin-token:${adminToken}` : null);
    this.signer = secret ? new SessionSigner(secret) : SessionSigner.random();
    this.stableSecret = secret !== null;
    const groups = config.console.admin_groups.length + config.console.read_groups.length;
    this.idp = config.auth.oidc && groups > 0 ? new IdentityProvider(config.auth.oidc, () => `${publicUrl()}/console/auth/callback`) : null;
  }

  get ttlMs(): number {
    return this.config.console.session_ttl * 1000;
  }

  session(req: IncomingMessage): ConsoleSession | null {
    return this.signer.session(req, this.wallNow());
  }

  /** The console role of someone the IdP signed in, or null when no console group has them. */
  roleOf(id: IdpIdentity): Role | null {
    const c = this.config.console;
    if (id.groups.some((g) => c.admin_groups.includes(g))) return 'admin';
    if (id.groups.some((g) => c.read_groups.includes(g))) return 'read';
    return null;
  }
}
