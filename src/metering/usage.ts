// Usage extraction from Anthropic responses. In a stream, message_start carries the first
// usage and every message_delta carries cumulative counters: the latest value of each counter
// wins (with Claude Code's rules for zeros, below), they are never added up.

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_5m_input_tokens: number;
  cache_creation_1h_input_tokens: number;
  web_search_requests: number;
  web_fetch_requests: number;
}

export function emptyUsage(): Usage {
  return {
    input_tokens: 0,
    output_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation_5m_input_tokens: 0,
    cache_creation_1h_input_tokens: 0,
    web_search_requests: 0,
    web_fetch_requests: 0,
  };
}

/** Adds every token class of `u` into `into` (a line that sums several attempts). */
export function addUsage(into: Usage, u: Usage): void {
  into.input_tokens += u.input_tokens;
  into.output_tokens += u.output_tokens;
  into.cache_read_input_tokens += u.cache_read_input_tokens;
  into.cache_creation_5m_input_tokens += u.cache_creation_5m_input_tokens;
  into.cache_creation_1h_input_tokens += u.cache_creation_1h_input_tokens;
  into.web_search_requests += u.web_search_requests;
  into.web_fetch_requests += u.web_fetch_requests;
}

function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

/** The fields besides token counts that change a request's price. */
export interface UsageExtras {
  /** "fast" (fast mode: its own, higher rates) or "standard". */
  speed: string | null;
  /** "us" for US-only inference (priced at a multiple of list), else the geography or null. */
  inference_geo: string | null;
  /** Per-iteration usage when the request ran several sampling iterations: long-prompt tiers
   * are chosen per iteration, not on the sum. */
  iterations: IterationUsage[] | null;
}

export interface IterationUsage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
  cache_1h: number;
  cache_5m: number;
}

export function emptyExtras(): UsageExtras {
  return { speed: null, inference_geo: null, iterations: null };
}

/** Raw counters as the API reports them; absent means "not reported in this event". */
interface RawCounters {
  input?: number;
  output?: number;
  cacheRead?: number;
  cacheCreation?: number;
  cc5m?: number;
  cc1h?: number;
  webSearch?: number;
  webFetch?: number;
}

function obj(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function readCounters(u: unknown): RawCounters {
  const o = obj(u);
  const cc = obj(o.cache_creation);
  const st = obj(o.server_tool_use);
  return {
    input: count(o.input_tokens),
    output: count(o.output_tokens),
    cacheRead: count(o.cache_read_input_tokens),
    cacheCreation: count(o.cache_creation_input_tokens),
    cc5m: count(cc.ephemeral_5m_input_tokens),
    cc1h: count(cc.ephemeral_1h_input_tokens),
    webSearch: count(st.web_search_requests),
    webFetch: count(st.web_fetch_requests),
  };
}

function readIterations(v: unknown): IterationUsage[] | null {
  if (!Array.isArray(v)) return null;
  const out: IterationUsage[] = [];
  for (const it of v) {
    const o = obj(it);
    // Only sampling iterations carry token counts; other entries (tool runs …) are skipped,
    // as Claude Code skips them.
    if (o.type !== 'message') continue;
    const c = readCounters(o);
    if (c.input === undefined || c.output === undefined || c.cacheRead === undefined || c.cacheCreation === undefined) return null;
    const total = c.cacheCreation;
    const h1 = Math.min(c.cc1h ?? 0, total);
    out.push({
      input_tokens: c.input,
      output_tokens: c.output,
      cache_read_input_tokens: c.cacheRead,
      cache_creation_input_tokens: total,
      cache_1h: h1,
      cache_5m: Math.min(c.cc5m ?? 0, total - h1),
    });
  }
  return out;
}

/**
 * Accumulates usage over the events of one response, the way Claude Code reads it:
 * message_start gives the first values; a message_delta replaces input, cache-read and
 * cache-write counts only with a positive value (a 0 never erases what message_start said),
 * replaces the output and server-tool counts whenever present, takes the 5m/1h breakdown only
 * when it is non-empty, and the latest non-null speed, geography and iterations.
 */
export class UsageAccumulator {
  private c: RawCounters = {};
  private extras: UsageExtras = emptyExtras();
  seen = false;

  apply(usage: unknown): void {
    if (!usage || typeof usage !== 'object') return;
    const n = readCounters(usage);
    const c = this.c;
    const first = !this.seen;
    this.seen = true;
    const positive = (v: number | undefined, prev: number | undefined) => (first ? (v ?? prev) : v !== undefined && v > 0 ? v : prev);
    const breakdown = (n.cc1h ?? 0) + (n.cc5m ?? 0);
    if (first || breakdown > 0) {
      if (n.cc1h !== undefined) c.cc1h = n.cc1h;
      if (n.cc5m !== undefined) c.cc5m = n.cc5m;
    }
    c.input = positive(n.input, c.input);
    c.cacheRead = positive(n.cacheRead, c.cacheRead);
    c.cacheCreation = n.cacheCreation !== undefined && (first || n.cacheCreation > 0) ? n.cacheCreation : breakdown > 0 ? breakdown : c.cacheCreation;
    if (n.output !== undefined) c.output = n.output;
    if (n.webSearch !== undefined) c.webSearch = n.webSearch;
    if (n.webFetch !== undefined) c.webFetch = n.webFetch;
    const o = usage as Record<string, unknown>;
    if (typeof o.speed === 'string') this.extras.speed = o.speed.slice(0, 32);
    if (typeof o.inference_geo === 'string') this.extras.inference_geo = o.inference_geo.slice(0, 32) || null;
    if (o.iterations !== undefined && o.iterations !== null) this.extras.iterations = readIterations(o.iterations);
  }

  result(): Usage {
    const c = this.c;
    // Cache writes: the reported total governs. A 5m/1h breakdown is clamped to it, and what the
    // 1-hour part does not account for is priced as 5-minute writes (the API's default TTL).
    // Without a total, the breakdown's sum stands in for it.
    const total = c.cacheCreation ?? (c.cc5m ?? 0) + (c.cc1h ?? 0);
    const h1 = Math.min(c.cc1h ?? 0, total);
    return {
      input_tokens: c.input ?? 0,
      output_tokens: c.output ?? 0,
      cache_read_input_tokens: c.cacheRead ?? 0,
      cache_creation_5m_input_tokens: total - h1,
      cache_creation_1h_input_tokens: h1,
      web_search_requests: c.webSearch ?? 0,
      web_fetch_requests: c.webFetch ?? 0,
    };
  }

  usageExtras(): UsageExtras {
    return { ...this.extras };
  }
}

/** What the meter learns from one response. */
export interface ResponseFacts {
  usage: Usage;
  extras: UsageExtras;
  usageSeen: boolean;
  model?: string;
  messageId?: string;
  stopReason?: string;
  errorType?: string;
  /** The stream reached message_stop. */
  complete: boolean;
}

/** Reads a stream's events; the caller feeds only the event types named in METERED_EVENTS. */
export class StreamMeter {
  private acc = new UsageAccumulator();
  model?: string;
  messageId?: string;
  stopReason?: string;
  errorType?: string;
  complete = false;
  /** A message_start arrived that could not be read: the usage it carried is unknown. */
  malformedStart = false;

  static readonly METERED_EVENTS = new Set(['message_start', 'message_delta', 'message_stop', 'error']);

  onEvent(event: string, data: string): void {
    if (event === 'message_stop') {
      this.complete = true;
      return;
    }
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(data) as Record<string, unknown>;
    } catch {
      // A malformed event is the client's to see; the meter keeps what it has, and a start it
      // cannot read is flagged (the input tokens it carried are unknown).
      if (event === 'message_start') this.malformedStart = true;
      return;
    }
    if (j === null || typeof j !== 'object') {
      if (event === 'message_start') this.malformedStart = true;
      return;
    }
    if (event === 'message_start') {
      if (!j.message || typeof j.message !== 'object') this.malformedStart = true;
      const m = (j.message ?? {}) as Record<string, unknown>;
      if (typeof m.model === 'string') this.model = m.model;
      if (typeof m.id === 'string') this.messageId = m.id;
      this.acc.apply(m.usage);
    } else if (event === 'message_delta') {
      const d = (j.delta ?? {}) as Record<string, unknown>;
      if (typeof d.stop_reason === 'string') this.stopReason = d.stop_reason;
      this.acc.apply(j.usage);
    } else if (event === 'error') {
      const e = (j.error ?? {}) as Record<string, unknown>;
      this.errorType = typeof e.type === 'string' ? e.type : 'api_error';
    }
  }

  facts(): ResponseFacts {
    return {
      usage: this.acc.result(),
      extras: this.acc.usageExtras(),
      usageSeen: this.acc.seen,
      model: this.model,
      messageId: this.messageId,
      stopReason: this.stopReason,
      errorType: this.errorType,
      complete: this.complete,
    };
  }
}

/** Reads a non-streaming response body (a Message, or an error envelope). */
export function factsFromJson(body: string): ResponseFacts {
  const acc = new UsageAccumulator();
  const facts: ResponseFacts = { usage: acc.result(), extras: emptyExtras(), usageSeen: false, complete: false };
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return facts;
  }
  if (!j || typeof j !== 'object') return facts;
  if (j.type === 'error') {
    const e = (j.error ?? {}) as Record<string, unknown>;
    facts.errorType = typeof e.type === 'string' ? e.type : 'api_error';
    return facts;
  }
  acc.apply(j.usage);
  facts.usage = acc.result();
  facts.extras = acc.usageExtras();
  facts.usageSeen = acc.seen;
  if (typeof j.model === 'string') facts.model = j.model;
  if (typeof j.id === 'string') facts.messageId = j.id;
  if (typeof j.stop_reason === 'string') facts.stopReason = j.stop_reason;
  facts.complete = true;
  return facts;
}
