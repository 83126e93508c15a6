// Anthropic API upstream (type: anthropic).
import type { Agent } from 'undici';
import type { AnthropicUpstreamConfig } from '../../config/schema.js';
import { rewriteBody } from '../../protocol/anthropic/body.js';
import type { ModelCatalog } from '../../routing/catalog.js';
import { resolveModel } from '../../routing/resolve.js';
import { redactUrl } from '../../util/redact.js';
import { keepAliveAgent } from '../common/agent.js';
import { parseAnthropicError } from '../common/errors.js';
import type { InboundRequest, MappedError, OutboundRequest, ResponseTranslator, Upstream } from '../types.js';
import { authHeaders } from './auth.js';
import { endpointUrl } from './endpoint.js';
import { translateHeaders } from './translate-request.js';

export class AnthropicUpstream implements Upstream {
  readonly name: string;
  readonly route = 'anthropic' as const;
  readonly region = null;
  readonly dispatcher: Agent;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly displayUrl: string;
  readonly credentialHint: string;

  constructor(
    private readonly cfg: AnthropicUpstreamConfig,
    private readonly catalog: ModelCatalog,
  ) {
    this.name = cfg.name;
    this.displayUrl = redactUrl(cfg.base_url);
    this.credentialHint = `check the API key of upstream "${cfg.name}" (upstreams[].api_key, e.g. $ANTHROPIC_API_KEY) and that its organization may use the model`;
    this.headersTimeoutMs = cfg.timeout_ms;
    this.bodyTimeoutMs = cfg.idle_timeout_ms;
    this.dispatcher = keepAliveAgent(cfg.connect_timeout_ms);
  }

  credentialProblem(): string | null {
    return this.cfg.api_key ? null : `upstream "${this.name}" has no api_key (set ANTHROPIC_API_KEY or upstreams[].api_key)`;
  }

  async prepare(req: InboundRequest): Promise<OutboundRequest> {
    const r = resolveModel(this.catalog, req.model, { route: 'anthropic' });
    // Pass-through: the body is forwarded byte for byte unless the client sent another
    // route's id (e.g. a Bedrock profile id), which the API would not know.
    const body = r.upstreamId === req.bodyModel ? req.rawBody : rewriteBody(req.scanned(), [], { model: JSON.stringify(r.upstreamId) });
    const headers = { ...translateHeaders(req), ...authHeaders(this.cfg.api_key ?? '') };
    if (body !== req.rawBody) delete headers['content-encoding'];
    return {
      url: endpointUrl(this.cfg.base_url, req.endpoint, req.search),
      method: 'POST',
      headers,
      body,
      upstreamModel: r.upstreamId,
      catalogModel: r.model?.id ?? null,
      endpointType: null,
      region: null,
    };
  }

  mapError(status: number, _headers: Record<string, string | string[] | undefined>, body: string): MappedError {
    return parseAnthropicError(status, body);
  }

  translator(): ResponseTranslator | null {
    return null;
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
