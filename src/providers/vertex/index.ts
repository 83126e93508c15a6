// Google Vertex AI upstream (type: vertex).
import type { Agent } from 'undici';
import type { VertexUpstreamConfig } from '../../config/schema.js';
import { memberValue } from '../../protocol/anthropic/body.js';
import type { ModelCatalog } from '../../routing/catalog.js';
import { resolveModel } from '../../routing/resolve.js';
import { routeData } from '../../routing/route-data.js';
import { GatewayError } from '../../server/errors.js';
import { redactUrl } from '../../util/redact.js';
import { keepAliveAgent } from '../common/agent.js';
import { resolveOrRefuse } from '../common/request.js';
import type { InboundRequest, MappedError, OutboundRequest, ResponseTranslator, Upstream } from '../types.js';
import { VertexAuth } from './auth.js';
import { vertexBaseUrl, vertexUrl } from './endpoint.js';
import { mapVertexError } from './errors.js';
import { vertexBody, vertexHeaders } from './translate-request.js';
import { VertexJsonTranslator, VertexStreamTranslator } from './translate-stream.js';

export class VertexUpstream implements Upstream {
  readonly name: string;
  readonly route = 'vertex' as const;
  readonly region: string;
  readonly dispatcher: Agent;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly displayUrl: string;
  readonly credentialHint: string;
  private readonly auth: VertexAuth;
  private readonly dropBetas: readonly string[];

  constructor(
    private readonly cfg: VertexUpstreamConfig,
    private readonly catalog: ModelCatalog,
  ) {
    this.name = cfg.name;
    this.region = cfg.region;
    this.displayUrl = redactUrl(vertexBaseUrl(cfg.region, cfg.base_url));
    this.credentialHint = `check the Google credentials of upstream "${cfg.name}" (credentials_file or Application Default Credentials) and the role roles/aiplatform.user on project ${cfg.project}`;
    this.headersTimeoutMs = cfg.timeout_ms;
    this.bodyTimeoutMs = cfg.idle_timeout_ms;
    this.dispatcher = keepAliveAgent(cfg.connect_timeout_ms);
    this.auth = new VertexAuth(cfg.credentials_file);
    this.dropBetas = cfg.drop_betas ?? routeData().vertex.drop_betas.flags;
  }

  credentialProblem(): string | null {
    return null;
  }

  async prepare(req: InboundRequest): Promise<OutboundRequest> {
    const r = resolveOrRefuse(this.name, () =>
      resolveModel(this.catalog, req.model, {
        route: 'vertex',
        region: this.cfg.region,
        modelRegions: this.cfg.model_regions,
        globalModels: routeData().vertex.global_endpoint_models?.models,
        globalFallback: this.cfg.global_fallback_region ?? routeData().vertex.global_fallback_region?.region,
      }),
    );
    const region = r.region ?? this.cfg.region;
    const scanned = req.scanned();
    const stream = memberValue(scanned, 'stream') === true;
    const counting = req.endpoint === 'count_tokens';
    // The endpoint host follows the region actually used (a per-model override included).
    const base = vertexBaseUrl(region, this.cfg.base_url);
    const url = vertexUrl(base, this.cfg.project, region, req.endpoint, r.upstreamId, stream);
    const body = vertexBody(scanned, routeData().vertex.anthropic_version, counting, r.upstreamId, routeData().vertex.drop_body_fields?.fields ?? []);
    let auth: Record<string, string>;
    try {
      auth = await this.auth.headers();
    } catch (err) {
      throw new GatewayError(
        'TG_UPSTREAM_NO_CREDENTIALS',
        `upstream "${this.name}": no usable Google credentials (${(err as Error).message.split('\n')[0]}); set up Application Default Credentials or credentials_file`,
      );
    }
    return {
      url,
      method: 'POST',
      headers: { ...vertexHeaders(req.headers['anthropic-beta'], this.dropBetas), ...auth },
      body,
      upstreamModel: r.upstreamId,
      catalogModel: r.model?.id ?? null,
      endpointType: r.endpointType,
      region,
    };
  }

  mapError(status: number, _headers: Record<string, string | string[] | undefined>, body: string): MappedError {
    return mapVertexError(status, body);
  }

  translator(req: InboundRequest, _out: OutboundRequest, _status: number, headers: Record<string, string | string[] | undefined>): ResponseTranslator {
    const ct = String(headers['content-type'] ?? '');
    return ct.includes('event-stream') ? new VertexStreamTranslator(req.model) : new VertexJsonTranslator(req.model);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
