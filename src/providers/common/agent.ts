// The connection pool every upstream adapter uses.
import { Agent } from 'undici';

export function keepAliveAgent(connectTimeoutMs: number): Agent {
  // Keep-alive pool per upstream; requests are long-lived streams, so no pipelining.
  return new Agent({ connect: { timeout: connectTimeoutMs }, keepAliveTimeout: 30_000, connections: 256 });
}
