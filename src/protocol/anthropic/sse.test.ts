import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser, type SseEvent } from './sse.js';

const stream = [
  'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":5}}}\n\n',
  ': a comment\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"héllo wörld ✓ 日本"}}\n\n',
  'event: ping\r\ndata: {"type": "ping"}\r\n\r\n',
  'event: multi\ndata: line one\ndata: line two\n\n',
  'event: message_stop\ndata: {"type":"message_stop"}\n\n',
].join('');

function parseAll(chunks: Buffer[]): SseEvent[] {
  const out: SseEvent[] = [];
  const p = new SseParser((e) => out.push(e));
  for (const c of chunks) p.push(c);
  p.end();
  return out;
}

describe('SSE parser', () => {
  const whole = Buffer.from(stream);
  const expected = parseAll([whole]);

  it('parses events, CRLF lines, multi-line data and comments', () => {
    assert.deepEqual(
      expected.map((e) => e.event),
      ['message_start', 'content_block_delta', 'ping', 'multi', 'message_stop'],
    );
    assert.equal(expected[3]!.data, 'line one\nline two');
    assert.equal(JSON.parse(expected[1]!.data).delta.text, 'héllo wörld ✓ 日本');
  });

  it('gives the same events when split at every byte boundary (including inside UTF-8)', () => {
    for (let i = 1; i < whole.length; i++) {
      assert.deepEqual(parseAll([whole.subarray(0, i), whole.subarray(i)]), expected, `split at ${i}`);
    }
  });

  it('gives the same events when fed one byte at a time, or in three random pieces', () => {
    assert.deepEqual(parseAll([...whole].map((b) => Buffer.from([b]))), expected);
    for (let i = 1; i < whole.length - 1; i += 7) {
      for (let j = i + 1; j < whole.length; j += 13) {
        assert.deepEqual(parseAll([whole.subarray(0, i), whole.subarray(i, j), whole.subarray(j)]), expected);
      }
    }
  });

  it('drops a final event that never got its blank line', () => {
    assert.deepEqual(
      parseAll([Buffer.from('event: a\ndata: 1\n\nevent: b\ndata: 2\n')]).map((e) => e.event),
      ['a'],
    );
  });
});

describe('SSE parser with an event filter', () => {
  it('delivers only wanted events, whole, at every split', () => {
    const whole = Buffer.from(stream);
    const want = (e: string) => e === 'message_start' || e === 'message_stop';
    const all: SseEvent[] = [];
    new SseParser((e) => all.push(e)).push(whole);
    const expected = all.filter((e) => want(e.event));
    for (let i = 1; i < whole.length; i++) {
      const got: SseEvent[] = [];
      const p = new SseParser((e) => got.push(e), want);
      p.push(whole.subarray(0, i));
      p.push(whole.subarray(i));
      assert.deepEqual(got, expected, `split at ${i}`);
    }
    assert.equal(expected.length, 2);
  });
});
