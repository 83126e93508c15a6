// Usage extraction from Anthropic responses. In a stream, message_start carries the first
// usage and every message_delta carries cumulative counters: the latest value of each counter
// wins, they are never added up.

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
    input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0,
    cache_creation_5m_input_tokens: 0, cache_creation_1h_input_tokens: 0,
    web_search_requests: 0, web_fetch_requests: 0,
  };
}

function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
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

function readCounters(u: unknown): RawCounters {
  if (!u || typeof u !== 'object') return {};
  const o = u as Record<string, unknown>;
  const cc = (o.cache_creation && typeof o.cache_creation === 'object' ? o.cache_creation : {}) as Record<string, unknown>;
  const st = (o.server_tool_use && typeof o.server_tool_use === 'object' ? o.server_tool_use : {}) as Record<string, unknown>;
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

/** Accumulates usage over the events of one response. */
export class UsageAccumulator {
  private c: RawCounters = {};
  seen = false;

  /** Applies a usage object; each counter present replaces the previous value. */
  apply(usage: unknown): void {
    const n = readCounters(usage);
    for (const k of Object.keys(n) as (keyof RawCounters)[]) {
      if (n[k] !== undefined) {
        this.c[k] = n[k];
        this.seen = true;
      }
    }
  }

  result(): Usage {
    const c = this.c;
    const total = c.cacheCreation ?? 0;
    const h1 = c.cc1h ?? 0;
    // Cache writes without the 5m/1h breakdown are 5-minute writes (the API default); when a
    // breakdown is present, whatever it does not account for is also counted as 5-minute.
    const m5 = c.cc5m !== undefined || c.cc1h !== undefined
      ? Math.max(c.cc5m ?? 0, total - h1)
      : total;
    return {
      input_tokens: c.input ?? 0,
      output_tokens: c.output ?? 0,
      cache_read_input_tokens: c.cacheRead ?? 0,
      cache_creation_5m_input_tokens: m5,
      cache_creation_1h_input_tokens: h1,
      web_search_requests: c.webSearch ?? 0,
      web_fetch_requests: c.webFetch ?? 0,
    };
  }
}

/** What the meter learns from one response. */
export interface ResponseFacts {
  usage: Usage;
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
      usage: this.acc.result(), usageSeen: this.acc.seen, model: this.model, messageId: this.messageId,
      stopReason: this.stopReason, errorType: this.errorType, complete: this.complete,
    };
  }
}

/** Reads a non-streaming response body (a Message, or an error envelope). */
export function factsFromJson(body: string): ResponseFacts {
  const acc = new UsageAccumulator();
  const facts: ResponseFacts = { usage: acc.result(), usageSeen: false, complete: false };
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
  facts.usageSeen = acc.seen;
  if (typeof j.model === 'string') facts.model = j.model;
  if (typeof j.id === 'string') facts.messageId = j.id;
  if (typeof j.stop_reason === 'string') facts.stopReason = j.stop_reason;
  facts.complete = true;
  return facts;
}
