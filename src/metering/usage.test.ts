import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { factsFromJson, StreamMeter } from './usage.js';

function meter(events: [string, unknown][]) {
  const m = new StreamMeter();
  for (const [e, d] of events) m.onEvent(e, JSON.stringify(d));
  return m.facts();
}

describe('usage extraction', () => {
  it('takes message_start usage and the latest cumulative message_delta, never a sum', () => {
    const f = meter([
      [
        'message_start',
        {
          message: {
            id: 'msg_1',
            model: 'claude-opus-5-5',
            usage: { input_tokens: 100, output_tokens: 1, cache_read_input_tokens: 50, cache_creation_input_tokens: 30 },
          },
        },
      ],
      ['message_delta', { delta: { stop_reason: null }, usage: { output_tokens: 10 } }],
      ['message_delta', { delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 25, input_tokens: 100 } }],
      ['message_stop', {}],
    ]);
    assert.deepEqual(f.usage, {
      input_tokens: 100,
      output_tokens: 25,
      cache_read_input_tokens: 50,
      cache_creation_5m_input_tokens: 30,
      cache_creation_1h_input_tokens: 0,
      web_search_requests: 0,
      web_fetch_requests: 0,
    });
    assert.equal(f.stopReason, 'tool_use');
    assert.equal(f.model, 'claude-opus-5-5');
    assert.equal(f.messageId, 'msg_1');
    assert.equal(f.complete, true);
  });

  it('splits cache writes into 5m and 1h; writes without a breakdown count as 5m', () => {
    let f = meter([
      [
        'message_start',
        { message: { usage: { cache_creation_input_tokens: 900, cache_creation: { ephemeral_5m_input_tokens: 600, ephemeral_1h_input_tokens: 300 } } } },
      ],
    ]);
    assert.equal(f.usage.cache_creation_5m_input_tokens, 600);
    assert.equal(f.usage.cache_creation_1h_input_tokens, 300);
    f = meter([['message_start', { message: { usage: { cache_creation_input_tokens: 900 } } }]]);
    assert.equal(f.usage.cache_creation_5m_input_tokens, 900);
    assert.equal(f.usage.cache_creation_1h_input_tokens, 0);
    f = meter([['message_start', { message: { usage: { cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 70 } } } }]]);
    assert.equal(f.usage.cache_creation_1h_input_tokens, 70);
    assert.equal(f.usage.cache_creation_5m_input_tokens, 0);
  });

  it('counts server tool use and records mid-stream errors', () => {
    const f = meter([
      ['message_start', { message: { usage: { input_tokens: 1 } } }],
      ['message_delta', { delta: {}, usage: { output_tokens: 3, server_tool_use: { web_search_requests: 4, web_fetch_requests: 2 } } }],
      ['error', { type: 'error', error: { type: 'overloaded_error', message: 'x' } }],
    ]);
    assert.equal(f.usage.web_search_requests, 4);
    assert.equal(f.usage.web_fetch_requests, 2);
    assert.equal(f.errorType, 'overloaded_error');
    assert.equal(f.complete, false);
  });

  it('ignores nonsense counters and malformed events', () => {
    const m = new StreamMeter();
    m.onEvent('message_start', '{not json');
    m.onEvent('message_delta', JSON.stringify({ usage: { output_tokens: -5, input_tokens: 1.5 } }));
    assert.equal(m.facts().usage.output_tokens, 0);
    assert.equal(m.facts().usage.input_tokens, 0);
  });

  it('reads non-streaming messages and error envelopes', () => {
    const f = factsFromJson(
      JSON.stringify({
        id: 'msg_2',
        type: 'message',
        model: 'claude-haiku-4-5-20251001',
        stop_reason: 'end_turn',
        usage: { input_tokens: 9, output_tokens: 8, cache_read_input_tokens: 7 },
      }),
    );
    assert.deepEqual(
      [f.usage.input_tokens, f.usage.output_tokens, f.usage.cache_read_input_tokens, f.model, f.stopReason],
      [9, 8, 7, 'claude-haiku-4-5-20251001', 'end_turn'],
    );
    assert.equal(factsFromJson('{"type":"error","error":{"type":"invalid_request_error","message":"x"}}').errorType, 'invalid_request_error');
    assert.equal(factsFromJson('garbage').usageSeen, false);
  });

  it('reads a stream as Claude Code does: zeros in message_delta never erase, breakdowns clamp to their total, latest speed/geo/iterations win', () => {
    const m = new StreamMeter();
    m.onEvent(
      'message_start',
      JSON.stringify({
        message: {
          usage: {
            input_tokens: 4000,
            output_tokens: 1,
            cache_read_input_tokens: 900,
            cache_creation_input_tokens: 500,
            cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 2000 },
            speed: 'fast',
          },
        },
      }),
    );
    m.onEvent(
      'message_delta',
      JSON.stringify({
        delta: {},
        usage: {
          input_tokens: 0,
          cache_read_input_tokens: 0,
          cache_creation_input_tokens: 0,
          output_tokens: 0,
          inference_geo: 'us',
          iterations: [
            { type: 'message', input_tokens: 4000, output_tokens: 0, cache_read_input_tokens: 900, cache_creation_input_tokens: 500 },
            { type: 'tool_result' },
          ],
        },
      }),
    );
    const f = m.facts();
    assert.equal(f.usage.input_tokens, 4000, 'a 0 in message_delta keeps message_start');
    assert.equal(f.usage.cache_read_input_tokens, 900);
    assert.equal(f.usage.output_tokens, 0, 'output takes the latest value, 0 included');
    assert.equal(f.usage.cache_creation_1h_input_tokens, 500, '1h clamped to the reported total');
    assert.equal(f.usage.cache_creation_5m_input_tokens, 0);
    assert.deepEqual(f.extras, {
      speed: 'fast',
      inference_geo: 'us',
      iterations: [{ input_tokens: 4000, output_tokens: 0, cache_read_input_tokens: 900, cache_creation_input_tokens: 500, cache_1h: 0, cache_5m: 0 }],
    });
    // A breakdown that first appears in message_delta stands in for a missing total.
    const d = new StreamMeter();
    d.onEvent('message_start', JSON.stringify({ message: { usage: { input_tokens: 10, output_tokens: 1, cache_creation_input_tokens: 0 } } }));
    d.onEvent(
      'message_delta',
      JSON.stringify({ usage: { output_tokens: 5, cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 300 } } }),
    );
    assert.deepEqual([d.facts().usage.cache_creation_5m_input_tokens, d.facts().usage.cache_creation_1h_input_tokens], [100, 300]);
  });
});
