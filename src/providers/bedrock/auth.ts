// Bedrock credentials: a Bedrock API key (Authorization: Bearer), or SigV4 with the standard
// AWS credential chain (env keys, shared config/SSO profile, web identity, container and
// instance roles), signed by AWS's own signer.
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

export class BedrockAuth {
  private readonly signer: SignatureV4 | null;

  constructor(private readonly opts: { region: string; bearerToken?: string; profile?: string; service?: string }) {
    this.signer = opts.bearerToken
      ? null
      : new SignatureV4({
          // bedrock (InvokeModel), bedrock-mantle (Claude in Amazon Bedrock).
          service: opts.service ?? 'bedrock',
          region: opts.region,
          // The provider caches credentials and refreshes them before they expire.
          credentials: defaultProvider(opts.profile ? { profile: opts.profile } : {}),
          sha256: Hash.bind(null, 'sha256'),
        });
  }

  get kind(): 'bearer' | 'sigv4' {
    return this.signer ? 'sigv4' : 'bearer';
  }

  /** Headers that authenticate a request to `url` with `body`. */
  async headers(method: string, url: string, headers: Record<string, string>, body: Buffer): Promise<Record<string, string>> {
    if (!this.signer) return { ...headers, authorization: `Bearer ${this.opts.bearerToken as string}` };
    const u = new URL(url);
    const signed = await this.signer.sign({
      method,
      protocol: u.protocol,
      hostname: u.hostname,
      port: u.port ? Number(u.port) : undefined,
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      headers: { ...headers, host: u.host },
      body,
    });
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(signed.headers)) if (k.toLowerCase() !== 'host') out[k] = String(v);
    return out;
  }
}
