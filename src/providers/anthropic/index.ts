// Anthropic API upstream (type: anthropic).
import { Agent } from 'undici';
import type { AnthropicUpstreamConfig } from '../../config/schema.js';
import type { InboundRequest, OutboundRequest, Upstream } from '../types.js';
import { authHeaders } from './auth.js';
import { endpointUrl } from './endpoint.js';
import { translateHeaders } from './translate-request.js';

export class AnthropicUpstream implements Upstream {
  readonly name: string;
  readonly route = 'anthropic';
  readonly region = null;
  readonly dispatcher: Agent;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly displayUrl: string;

  constructor(private readonly cfg: AnthropicUpstreamConfig) {
    this.name = cfg.name;
    this.displayUrl = cfg.base_url;
    this.headersTimeoutMs = cfg.timeout_ms;
    this.bodyTimeoutMs = cfg.idle_timeout_ms;
    // Keep-alive pool per upstream; pipelining off (requests are long-lived streams).
    this.dispatcher = new Agent({
      connect: { timeout: cfg.connect_timeout_ms },
      keepAliveTimeout: 30_000,
      connections: 256,
    });
  }

  credentialProblem(): string | null {
    return this.cfg.api_key ? null : `upstream "${this.name}" has no api_key (set ANTHROPIC_API_KEY or upstreams[].api_key)`;
  }

  async prepare(req: InboundRequest): Promise<OutboundRequest> {
    return {
      url: endpointUrl(this.cfg.base_url, req.endpoint, req.search),
      method: 'POST',
      headers: { ...translateHeaders(req), ...authHeaders(this.cfg.api_key ?? '') },
      body: req.rawBody,
      upstreamModel: req.model,
    };
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
