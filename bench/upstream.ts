// Benchmark fake upstream (its own process): reads the whole request body, then answers with
// a realistic Claude streaming response (~40 SSE events) at once, so what is measured is the
// proxies, not the upstream.
import { createServer } from 'node:http';
import { sseEvents } from '../test/helpers/fake-anthropic.js';

const body = Buffer.from(
  sseEvents(
    {
      kind: 'stream',
      usageStart: { input_tokens: 12000, output_tokens: 1, cache_read_input_tokens: 40000, cache_creation_input_tokens: 800 },
      usageEnd: { output_tokens: 420 },
      text: 'word '.repeat(36),
    },
    'claude-opus-5-5',
  ),
);

const server = createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': 'req_bench' });
    // Two writes, like a real stream's first event and the rest.
    const cut = body.indexOf('event: content_block_start');
    res.write(body.subarray(0, cut));
    res.end(body.subarray(cut));
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.send?.({ port: typeof a === 'object' && a ? a.port : 0 });
});
