import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bedrockFrames, exceptionFrame } from '../../../test/helpers/fake-bedrock.js';
import { scanBody } from '../../protocol/anthropic/body.js';
import { routeData } from '../../routing/route-data.js';
import { mapBedrockError } from './errors.js';
import { bedrockBody } from './translate-request.js';
import { BedrockStreamTranslator } from './translate-stream.js';

function translate(chunks: Buffer[]): { text: string; t: BedrockStreamTranslator } {
  const t = new BedrockStreamTranslator('claude-sonnet-4-5');
  let text = '';
  for (const c of chunks) text += t.push(c)?.toString() ?? '';
  text += t.end()?.toString() ?? '';
  return { text, t };
}

describe('Bedrock stream translation', () => {
  const stream = Buffer.concat(
    bedrockFrames({
      modelId: 'eu.anthropic.claude-sonnet-4-5-20250929-v1:0',
      usageStart: { input_tokens: 5, output_tokens: 1, cache_read_input_tokens: 9 },
      usageEnd: { output_tokens: 7 },
      text: 'héllo wörld ✓',
    }),
  );
  const whole = translate([stream]);

  it('turns chunk frames into Anthropic SSE with the client model and no Bedrock fields', () => {
    const events = whole.text.split('\n\n').filter(Boolean);
    assert.match(events[0]!, /^event: message_start\ndata: .*"model":"claude-sonnet-4-5"/);
    assert.match(events[events.length - 1]!, /^event: message_stop\ndata: \{"type":"message_stop"\}$/);
    assert.ok(!whole.text.includes('invocationMetrics'));
    assert.deepEqual(whole.t.reportedUsage, { input: 5, output: 7, cacheRead: 9, cacheWrite: 0 });
    assert.equal(whole.t.error, null);
  });

  it('gives the same output when frames are split at every byte boundary', () => {
    for (let i = 1; i < stream.length; i++) {
      assert.equal(translate([stream.subarray(0, i), stream.subarray(i)]).text, whole.text, `split at ${i}`);
    }
    assert.equal(translate([...stream].map((b) => Buffer.from([b]))).text, whole.text);
  });

  it('turns exception frames into an SSE error event with the mapped type', () => {
    for (const [frame, type] of [
      ['throttlingException', 'rate_limit_error'],
      ['modelStreamErrorException', 'api_error'],
      ['validationException', 'invalid_request_error'],
      ['internalServerException', 'api_error'],
      ['serviceUnavailableException', 'overloaded_error'],
      ['modelTimeoutException', 'timeout_error'],
    ] as const) {
      const { text, t } = translate([exceptionFrame(frame, 'boom')]);
      assert.equal(t.error?.type, type, frame);
      assert.match(text, new RegExp(`^event: error\\ndata: .*"type":"${type}"`));
    }
  });

  it('reports a corrupted frame (bad CRC) or a cut stream instead of passing garbage on', () => {
    const bad = Buffer.from(stream);
    bad[20] = bad[20]! ^ 0xff;
    assert.equal(translate([bad]).t.error?.type, 'api_error');
    assert.match(translate([stream.subarray(0, stream.length - 3)]).text, /ended inside a frame/);
  });
});

describe('Bedrock errors and request body', () => {
  it('maps every documented error type to the right status and type', () => {
    const table: [string, number, number, string][] = [
      ['ThrottlingException', 429, 429, 'rate_limit_error'],
      ['ValidationException', 400, 400, 'invalid_request_error'],
      ['AccessDeniedException', 403, 403, 'permission_error'],
      ['ResourceNotFoundException', 404, 404, 'not_found_error'],
      ['ServiceUnavailableException', 503, 529, 'overloaded_error'],
      ['ModelNotReadyException', 429, 429, 'rate_limit_error'],
      ['ModelTimeoutException', 408, 504, 'timeout_error'],
      ['InternalServerException', 500, 500, 'api_error'],
      ['ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/', 429, 429, 'rate_limit_error'],
    ];
    for (const [t, status, want, type] of table)
      assert.deepEqual([mapBedrockError(t, status, 'm').status, mapBedrockError(t, status, 'm').type], [want, type], t);
  });

  it('changes exactly the documented fields and drops the betas Bedrock rejects', () => {
    const body = Buffer.from(
      JSON.stringify({
        model: 'claude-sonnet-4-5',
        max_tokens: 10,
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        thinking: { type: 'enabled' },
        metadata: { user_id: 'u' },
      }),
    );
    const dropped = routeData().bedrock.drop_betas.flags;
    assert.ok(dropped.includes('claude-code-20250219'));
    const out = JSON.parse(
      bedrockBody(
        scanBody(body),
        `claude-code-20250219, interleaved-thinking-2025-05-14,context-management-2025-06-27,thinking-token-count-2026-05-13`,
        'bedrock-2023-05-31',
        dropped,
      ).toString(),
    ) as Record<string, unknown>;
    assert.deepEqual(out, {
      max_tokens: 10,
      messages: [{ role: 'user', content: 'hi' }],
      thinking: { type: 'enabled' },
      metadata: { user_id: 'u' },
      anthropic_version: 'bedrock-2023-05-31',
      // What Claude Code sends natively on Bedrock stays; context-management (an Anthropic-API
      // beta Claude Code leaves out on Bedrock) and the rejected claude-code beta go.
      anthropic_beta: ['interleaved-thinking-2025-05-14', 'thinking-token-count-2026-05-13'],
    });
    const none = JSON.parse(bedrockBody(scanBody(body), undefined, 'bedrock-2023-05-31', dropped).toString()) as Record<string, unknown>;
    assert.ok(!('anthropic_beta' in none));
  });
});
