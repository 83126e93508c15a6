// The company's identity provider, through openid-client: discovery, the authorization-code
// flow with PKCE, state and nonce (the ID token verified against the IdP's JWKS), and refresh,
// which is how a user removed or disabled at the IdP loses access at the gateway.
import * as client from 'openid-client';
import type { Config } from '../config/schema.js';

type OidcConfig = NonNullable<Config['auth']['oidc']>;

/** Who signed in, as the IdP says. */
export interface IdpIdentity {
  subject: string;
  email: string | null;
  name: string | null;
  groups: string[];
  /** To ask the IdP again at each refresh (null when it issues none). */
  refreshToken: string | null;
}

export class SignInRefused extends Error {}

function isLoopback(url: URL): boolean {
  return url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]';
}

export class IdentityProvider {
  private config: Promise<client.Configuration> | null = null;

  constructor(
    private readonly cfg: OidcConfig,
    private readonly redirectUri: () => string,
  ) {}

  private configuration(): Promise<client.Configuration> {
    // Discovery once, and again after a failure (the IdP may have been down at start).
    this.config ??= client
      .discovery(
        new URL(this.cfg.issuer),
        this.cfg.client_id,
        undefined,
        this.cfg.client_secret ? client.ClientSecretPost(this.cfg.client_secret) : client.None(),
        {
          // An IdP on loopback (tests, a local Dex) may speak plain http; nothing else may.
          execute: isLoopback(new URL(this.cfg.issuer)) ? [client.allowInsecureRequests] : [],
        },
      )
      .catch((err: unknown) => {
        this.config = null;
        throw err;
      });
    return this.config;
  }

  /** Where to send the browser, and what to keep for the callback. */
  async start(): Promise<{ url: string; state: string; verifier: string; nonce: string }> {
    const config = await this.configuration();
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri(),
      scope: this.cfg.scopes,
      state,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    return { url: url.href, state, verifier, nonce };
  }

  /** The IdP's redirect back: code exchanged (PKCE), state and nonce checked, ID token verified. */
  async finish(callbackUrl: URL, expected: { state: string; verifier: string; nonce: string }): Promise<IdpIdentity> {
    const config = await this.configuration();
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
      pkceCodeVerifier: expected.verifier,
      expectedState: expected.state,
      expectedNonce: expected.nonce,
      idTokenExpected: true,
    });
    return this.identity(tokens.claims() ?? {}, tokens.refresh_token ?? null);
  }

  /** Asks the IdP whether the user may still sign in (refresh grant); throws SignInRefused if not. */
  async recheck(refreshToken: string): Promise<IdpIdentity> {
    const config = await this.configuration();
    let tokens: Awaited<ReturnType<typeof client.refreshTokenGrant>>;
    try {
      tokens = await client.refreshTokenGrant(config, refreshToken);
    } catch (err) {
      // The IdP's answer (invalid_grant for a removed or disabled user) ends the session; a
      // network failure is not a verdict on the user.
      if (err instanceof client.ResponseBodyError) throw new SignInRefused(`the identity provider refused: ${err.error}`);
      throw err;
    }
    const claims = tokens.claims();
    if (!claims) throw new SignInRefused('the identity provider sent no ID token on refresh');
    return this.identity(claims, tokens.refresh_token ?? refreshToken);
  }

  private identity(claims: Record<string, unknown>, refreshToken: string | null): IdpIdentity {
    const raw = claims[this.cfg.groups_claim];
    const groups = Array.isArray(raw) ? raw.filter((g): g is string => typeof g === 'string') : typeof raw === 'string' ? [raw] : [];
    const email = typeof claims.email === 'string' ? claims.email : null;
    return { subject: String(claims.sub), email, name: typeof claims.name === 'string' ? claims.name : null, groups, refreshToken };
  }

  /** Who may sign in: an allowed email domain or an allowed group (nothing listed: anyone). */
  check(id: IdpIdentity): void {
    const domains = this.cfg.allowed_email_domains.map((d) => d.toLowerCase());
    const groups = this.cfg.allowed_groups;
    if (!domains.length && !groups.length) return;
    const domain = id.email?.split('@')[1]?.toLowerCase();
    if (domain && domains.includes(domain)) return;
    if (id.groups.some((g) => groups.includes(g))) return;
    throw new SignInRefused(
      `${id.email ?? id.subject} may not use this gateway (allowed: ${[...domains.map((d) => `@${d}`), ...groups.map((g) => `group ${g}`)].join(', ')})`,
    );
  }
}
