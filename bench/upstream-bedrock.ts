// Benchmark fake Bedrock (its own process): answers InvokeModelWithResponseStream at once with
// the event-stream frames of a realistic Claude response (AWS's codec), bearer-token auth.
import { createServer } from 'node:http';
import { bedrockFrames } from '../test/helpers/fake-bedrock.js';

const frames = bedrockFrames({
  modelId: 'us.anthropic.claude-opus-4-6-v1',
  usageStart: { input_tokens: 12000, output_tokens: 1, cache_read_input_tokens: 40000, cache_creation_input_tokens: 800 },
  usageEnd: { output_tokens: 420 },
  text: 'word '.repeat(36),
});
const first = frames[0] as Buffer;
const rest = Buffer.concat(frames.slice(1));

const server = createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
    res.write(first);
    res.end(rest);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.send?.({ port: typeof a === 'object' && a ? a.port : 0 });
});
