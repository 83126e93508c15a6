// Amazon Bedrock upstream (type: bedrock).
import type { Agent } from 'undici';
import type { BedrockUpstreamConfig } from '../../config/schema.js';
import { memberValue } from '../../protocol/anthropic/body.js';
import type { ModelCatalog } from '../../routing/catalog.js';
import { resolveModel } from '../../routing/resolve.js';
import { routeData } from '../../routing/route-data.js';
import { GatewayError } from '../../server/errors.js';
import { headerValue } from '../../server/headers.js';
import { redactUrl } from '../../util/redact.js';
import { keepAliveAgent } from '../common/agent.js';
import { resolveOrRefuse } from '../common/request.js';
import type { InboundRequest, MappedError, OutboundRequest, ResponseTranslator, Upstream } from '../types.js';
import { BedrockAuth } from './auth.js';
import { bedrockBaseUrl, bedrockUrl } from './endpoint.js';
import { bedrockErrorMessage, mapBedrockError } from './errors.js';
import { bedrockBody, countTokensBody, unsupportedServerTool } from './translate-request.js';
import { BedrockJsonTranslator, BedrockStreamTranslator } from './translate-stream.js';

/** Bedrock's service tiers (its ServiceTier type). */
const SERVICE_TIERS = ['default', 'flex', 'priority', 'reserved'];

export class BedrockUpstream implements Upstream {
  readonly name: string;
  readonly route = 'bedrock' as const;
  readonly region: string;
  readonly dispatcher: Agent;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly displayUrl: string;
  readonly credentialHint: string;
  private readonly auth: BedrockAuth;
  private readonly base: string;
  private readonly dropBetas: readonly string[];

  constructor(
    private readonly cfg: BedrockUpstreamConfig,
    private readonly catalog: ModelCatalog,
  ) {
    this.name = cfg.name;
    this.region = cfg.region;
    this.base = bedrockBaseUrl(cfg.region, cfg.base_url);
    this.displayUrl = redactUrl(this.base);
    this.credentialHint = `check the AWS credentials of upstream "${cfg.name}" (bearer_token, aws_profile or the AWS_* environment; an expired SSO session needs "aws sso login") and its IAM permission bedrock:InvokeModel* in ${cfg.region}`;
    this.headersTimeoutMs = cfg.timeout_ms;
    this.bodyTimeoutMs = cfg.idle_timeout_ms;
    this.dispatcher = keepAliveAgent(cfg.connect_timeout_ms);
    this.auth = new BedrockAuth({ region: cfg.region, bearerToken: cfg.bearer_token || undefined, profile: cfg.aws_profile });
    this.dropBetas = cfg.drop_betas ?? routeData().bedrock.drop_betas.flags;
  }

  private readonly regionAuth = new Map<string, BedrockAuth>();

  /** The signer for a region (SigV4 signs for one); the bearer key is the same everywhere. */
  private authFor(region: string): BedrockAuth {
    if (region === this.cfg.region) return this.auth;
    let a = this.regionAuth.get(region);
    if (!a) {
      a = new BedrockAuth({ region, bearerToken: this.cfg.bearer_token || undefined, profile: this.cfg.aws_profile });
      this.regionAuth.set(region, a);
    }
    return a;
  }

  credentialProblem(): string | null {
    // The AWS chain is resolved when signing; a failure there is reported per request.
    return null;
  }

  async prepare(req: InboundRequest): Promise<OutboundRequest> {
    const r = resolveOrRefuse(this.name, () =>
      resolveModel(
        this.catalog,
        req.model,
        {
          route: 'bedrock',
          region: this.cfg.region,
          profile: this.cfg.profile,
          geoPrefix: this.cfg.geo_prefix,
          applicationProfiles: this.cfg.application_inference_profiles,
          teamProfiles: this.cfg.team_inference_profiles,
          modelRegions: this.cfg.model_regions,
          profileWraps: this.cfg.application_profile_wraps,
        },
        req.team,
      ),
    );
    const scanned = req.scanned();
    // A server tool Bedrock does not run (web search): refused here, so the next upstream on
    // the caller's route (Anthropic, Vertex) can serve it, or the client hears why.
    const tool = unsupportedServerTool(scanned, routeData().bedrock.unsupported_server_tools?.prefixes ?? []);
    if (tool)
      throw new GatewayError(
        'TG_FEATURE_NOT_ON_ROUTE',
        `upstream "${this.name}": Bedrock does not run the ${tool} server tool (no web search on Bedrock); route this team to an Anthropic or Vertex upstream as well, or leave the tool out`,
      );
    const stream = memberValue(scanned, 'stream') === true;
    const invoke = bedrockBody(
      scanned,
      req.headers['anthropic-beta'],
      routeData().bedrock.anthropic_version,
      this.dropBetas,
      routeData().bedrock.drop_body_fields?.fields ?? [],
    );
    const counting = req.endpoint === 'count_tokens';
    // CountTokens takes the base model id, not an inference profile.
    const id = counting ? (r.model?.ids.bedrock ?? r.upstreamId) : r.upstreamId;
    // A per-model region override: that region's endpoint (unless base_url pins one), signed for it.
    const region = r.region ?? this.cfg.region;
    const url = bedrockUrl(region === this.cfg.region ? this.base : bedrockBaseUrl(region, this.cfg.base_url), req.endpoint, id, stream && !counting);
    const body = counting ? countTokensBody(invoke) : invoke;
    const base: Record<string, string> = {
      'content-type': 'application/json',
      accept: stream && !counting ? 'application/vnd.amazon.eventstream' : 'application/json',
    };
    // The service tier the client asked for (Claude Code's ANTHROPIC_BEDROCK_SERVICE_TIER), else
    // the upstream's; forwarded (and signed), recorded and priced.
    const asked = headerValue(req.headers, 'x-amzn-bedrock-service-tier')?.trim().toLowerCase();
    const tier = asked || this.cfg.service_tier;
    if (tier && !SERVICE_TIERS.includes(tier))
      throw new GatewayError('TG_BAD_REQUEST', `x-amzn-bedrock-service-tier: ${JSON.stringify(tier.slice(0, 40))} is not one of ${SERVICE_TIERS.join(', ')}`);
    if (tier && !counting) base['x-amzn-bedrock-service-tier'] = tier;
    let headers: Record<string, string>;
    try {
      headers = await this.authFor(region).headers('POST', url, base, body);
    } catch (err) {
      throw new GatewayError(
        'TG_UPSTREAM_NO_CREDENTIALS',
        `upstream "${this.name}": no usable AWS credentials (${(err as Error).message.split('\n')[0]}); configure the AWS chain or bearer_token`,
      );
    }
    return {
      url,
      method: 'POST',
      headers,
      body,
      upstreamModel: id,
      catalogModel: r.model?.id ?? null,
      endpointType: r.endpointType,
      region,
      serviceTier: counting ? null : (tier ?? null),
    };
  }

  mapError(status: number, headers: Record<string, string | string[] | undefined>, body: string): MappedError {
    const t = headers['x-amzn-errortype'];
    return mapBedrockError(Array.isArray(t) ? t[0] : t, status, bedrockErrorMessage(body));
  }

  translator(req: InboundRequest, _out: OutboundRequest, _status: number, headers: Record<string, string | string[] | undefined>): ResponseTranslator {
    const ct = String(headers['content-type'] ?? '');
    if (ct.includes('eventstream')) return new BedrockStreamTranslator(req.model);
    return new BedrockJsonTranslator(req.model, req.endpoint === 'count_tokens');
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
