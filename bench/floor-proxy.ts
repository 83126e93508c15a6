// The floor: a bare pass-through proxy on the same HTTP client (undici) and server (node:http)
// as tollgate, with no auth, parsing, metering or ledger. Run in its own process.
import { createServer } from 'node:http';
import { Agent, request } from 'undici';

const upstream = process.argv[2] as string;
const agent = new Agent({ keepAliveTimeout: 30_000, connections: 256 });
const HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'host',
  'content-length',
  'te',
  'upgrade',
  'proxy-connection',
  'authorization',
  'x-api-key',
]);

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP.has(k)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    headers['x-api-key'] = 'upstream-key';
    try {
      const up = await request(upstream + (req.url ?? '/'), { dispatcher: agent, method: 'POST', headers, body: Buffer.concat(chunks) });
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP.has(k)) out[k] = v;
      res.writeHead(up.statusCode, out);
      res.flushHeaders();
      for await (const c of up.body) if (!res.write(c)) await new Promise((r) => res.once('drain', r));
      res.end();
    } catch {
      res.destroy();
    }
  });
});
server.keepAliveTimeout = 60_000;
// CPU time (user + system, µs) for the run's CPU-per-request figures.
process.on('message', (m) => {
  if (m === 'cpu') {
    const u = process.cpuUsage();
    process.send?.({ cpu: u.user + u.system });
  }
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.send?.({ port: typeof a === 'object' && a ? a.port : 0 });
});
