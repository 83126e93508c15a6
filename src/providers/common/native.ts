// Anthropic's API shape served by a cloud (Mantle on AWS, Foundry on Azure): the request is the
// client's, with the route's model id in the body and the route's credentials; the answer is
// Anthropic's, passed through. What differs per cloud is the endpoint, the auth and the ids.
import type { Agent } from 'undici';
import { rewriteBody } from '../../protocol/anthropic/body.js';
import type { ModelCatalog } from '../../routing/catalog.js';
import { resolveModel, type NativeCloudTarget } from '../../routing/resolve.js';
import { forwardRequestHeaders } from '../../server/headers.js';
import { keepAliveAgent } from './agent.js';
import { parseAnthropicError } from './errors.js';
import { resolveOrRefuse } from './request.js';
import type { Endpoint, InboundRequest, MappedError, OutboundRequest, ResponseTranslator, Upstream } from '../types.js';

const PATHS: Record<Endpoint, string> = { messages: '/v1/messages', count_tokens: '/v1/messages/count_tokens' };

export interface NativeCloudOptions {
  name: string;
  route: 'mantle' | 'foundry';
  region: string | null;
  baseUrl: string;
  displayUrl: string;
  credentialHint: string;
  timeouts: { timeout_ms: number; connect_timeout_ms: number; idle_timeout_ms: number };
  names?: Record<string, string>;
  /** Headers that authenticate this request (signed ones need the final URL and body). */
  auth(method: string, url: string, headers: Record<string, string>, body: Buffer): Promise<Record<string, string>>;
  credentialProblem(): string | null;
}

export class NativeCloudUpstream implements Upstream {
  readonly name: string;
  readonly route: 'mantle' | 'foundry';
  readonly region: string | null;
  readonly dispatcher: Agent;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly displayUrl: string;
  readonly credentialHint: string;
  private readonly target: NativeCloudTarget;

  constructor(
    private readonly o: NativeCloudOptions,
    private readonly catalog: ModelCatalog,
  ) {
    this.name = o.name;
    this.route = o.route;
    this.region = o.region;
    this.displayUrl = o.displayUrl;
    this.credentialHint = o.credentialHint;
    this.headersTimeoutMs = o.timeouts.timeout_ms;
    this.bodyTimeoutMs = o.timeouts.idle_timeout_ms;
    this.dispatcher = keepAliveAgent(o.timeouts.connect_timeout_ms);
    this.target = { route: o.route, names: o.names };
  }

  credentialProblem(): string | null {
    return this.o.credentialProblem();
  }

  async prepare(req: InboundRequest): Promise<OutboundRequest> {
    const r = resolveOrRefuse(this.name, () => resolveModel(this.catalog, req.model, this.target, req.team));
    const body = r.upstreamId === req.bodyModel ? req.rawBody : rewriteBody(req.scanned(), [], { model: JSON.stringify(r.upstreamId) });
    const url = this.o.baseUrl.replace(/\/+$/, '') + PATHS[req.endpoint] + req.search;
    const forwarded = forwardRequestHeaders(req.headers);
    if (body !== req.rawBody) delete forwarded['content-encoding'];
    return {
      url,
      method: 'POST',
      headers: await this.o.auth('POST', url, forwarded, body),
      body,
      upstreamModel: r.upstreamId,
      catalogModel: r.model?.id ?? null,
      endpointType: null,
      region: this.region,
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
