// The one configuration schema. Everything that reads config gets its types from here, and
// `tollgate config schema` prints the JSON Schema generated from it for editors.
import { z } from 'zod';

const port = z.number().int().min(0).max(65535);

export const anthropicUpstreamSchema = z.strictObject({
  name: z.string().min(1).regex(/^[a-z0-9][a-z0-9._-]*$/i, 'letters, digits, ".", "_" or "-"'),
  type: z.literal('anthropic'),
  base_url: z.url({ protocol: /^https?$/ }).default('https://api.anthropic.com'),
  api_key: z.string().optional(),
  /** Time to wait for response headers; Claude Code's own client timeout is 600 s. */
  timeout_ms: z.number().int().positive().default(600_000),
  connect_timeout_ms: z.number().int().positive().default(10_000),
  /** Longest silence allowed inside a response body before the upstream is given up on. */
  idle_timeout_ms: z.number().int().positive().default(300_000),
});

export const upstreamSchema = z.discriminatedUnion('type', [anthropicUpstreamSchema]);

export const configSchema = z.strictObject({
  server: z.strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(8787),
    max_body_bytes: z.number().int().positive().default(32 * 1024 * 1024),
    /** Longest a client may take to send its request body. */
    request_timeout_ms: z.number().int().positive().default(120_000),
  }).prefault({}),
  store: z.strictObject({
    sqlite: z.string().min(1).default('./data/tollgate.db'),
    /**
     * `normal` keeps every committed ledger line across a crash or kill of the gateway (WAL
     * appends reach the OS before the response ends); `full` also fsyncs each group commit so
     * lines survive power loss, at the cost of a disk flush per batch.
     */
    sync: z.enum(['normal', 'full']).default('normal'),
  }).prefault({}),
  upstreams: z.array(upstreamSchema).min(1),
  prices: z.strictObject({
    /** A price file in the format of data/prices.json whose entries replace the shipped ones. */
    file: z.string().optional(),
    /** Inline per-model overrides, same fields as data/prices.json. */
    overrides: z.record(z.string(), z.record(z.string(), z.union([z.string(), z.number(), z.record(z.string(), z.union([z.string(), z.number()]))]))).optional(),
  }).prefault({}),
  log: z.strictObject({
    level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  }).prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type UpstreamConfig = z.infer<typeof upstreamSchema>;
export type AnthropicUpstreamConfig = z.infer<typeof anthropicUpstreamSchema>;

/** Keys people commonly write by analogy with other tools; the hint names the right one. */
export const renamedKeys: Record<string, string> = {
  baseUrl: 'base_url', baseURL: 'base_url', url: 'base_url', apiKey: 'api_key', key: 'api_key',
  provider: 'type', listen: 'host', database: 'sqlite', db: 'sqlite', path: 'sqlite',
  maxBodyBytes: 'max_body_bytes', timeout: 'timeout_ms', timeoutMs: 'timeout_ms',
};

/** What a config without `upstreams` (or no config file at all) gets: the Anthropic API with
 * the key from the environment. Applied before ${VAR} expansion so the key is looked up. */
export const defaultUpstreams = [{ name: 'anthropic', type: 'anthropic', api_key: '${ANTHROPIC_API_KEY}' }];
