import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { memberValue, scanBody } from './body.js';

function accepts(s: string): boolean {
  try {
    scanBody(Buffer.from(s));
    return true;
  } catch {
    return false;
  }
}

function jsonObject(s: string): boolean {
  try {
    const v: unknown = JSON.parse(s);
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  } catch {
    return false;
  }
}

describe('request body scanner', () => {
  it('reads top-level fields; a repeated key keeps the last value like JSON.parse', () => {
    const body = Buffer.from(
      '{"model":"claude-x","messages":[{"role":"user","content":"a \\"quoted\\" \\\\ \\u00e9 text"}],"stream":true,"model":"claude-y","metadata":{"user_id":"{\\"session_id\\":\\"s\\"}"}}',
    );
    const s = scanBody(body);
    assert.equal(memberValue(s, 'model'), 'claude-y');
    assert.equal(memberValue(s, 'stream'), true);
    assert.deepEqual(memberValue(s, 'metadata'), { user_id: '{"session_id":"s"}' });
    assert.equal(memberValue(s, 'absent'), undefined);
    const m = s.members.get('messages')!;
    assert.deepEqual(JSON.parse(body.toString('utf8', m.valueStart, m.valueEnd)), JSON.parse(body.toString()).messages);
  });

  it('agrees with JSON.parse on valid and invalid documents', () => {
    const cases = [
      '{}',
      ' { } ',
      '{"a":1}',
      '{"a":-0.5e+10,"b":[true,false,null,{"c":[]}],"d":"\\n\\t\\/\\b\\f\\r"}',
      '{"a":[1,2,]}',
      '{"a":01}',
      '{"a":1.}',
      '{"a":.5}',
      '{"a":1e}',
      '{"a" 1}',
      '{a:1}',
      '{"a":1,}',
      '{"a":1}}',
      '{"a":"unterminated}',
      '{"a":"\\\\"}',
      '{"a":"\\\\\\"}',
      '{"a":"x\\\\\\\\"}',
      '{"a":[1 2]}',
      '{"a":{"b":1,"c"}}',
      '{"a":nul}',
      '[]',
      '"s"',
      '1',
      '',
      '{',
      '{"a":[[[[]]]]}',
      '{"\\u0061":1}',
      '{"a":1} {"b":2}',
      '{"a":-}',
    ];
    for (const c of cases) assert.equal(accepts(c), jsonObject(c), c);
  });

  it('agrees with JSON.parse on thousands of random mutations of a realistic body', () => {
    const base = JSON.stringify({
      model: 'claude-opus-5-5',
      max_tokens: 32000,
      stream: true,
      temperature: 0.7,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'code: {"x": [1, 2]}\n\t"q" \\ end' }] }],
      tools: [],
      metadata: { user_id: 'u' },
    });
    // No raw control characters in the alphabet: inside strings the scanner leaves them to the
    // upstream (documented), so JSON.parse is not the reference for them.
    const alphabet = '{}[]:,"\\ 0123456789.eE+-tfnu abc';
    // Escapes inside strings are the upstream's to judge: compare only where JSON.parse's
    // verdict does not hinge on one.
    const fixEscapes = (s: string) => s.replace(/\\(u[0-9a-fA-F]{4}|[\s\S])/g, (m, c: string) => (c.length === 5 || '"\\/bfnrt'.includes(c) ? m : c));
    const escapeOnly = (s: string) => !jsonObject(s) && jsonObject(fixEscapes(s));
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 5000; i++) {
      const chars = [...base];
      const edits = 1 + rnd(3);
      for (let e = 0; e < edits; e++) {
        const at = rnd(chars.length);
        const op = rnd(3);
        if (op === 0) chars.splice(at, 1);
        else if (op === 1) chars.splice(at, 0, alphabet[rnd(alphabet.length)]!);
        else chars[at] = alphabet[rnd(alphabet.length)]!;
      }
      const s = chars.join('');
      if (accepts(s) && escapeOnly(s)) continue;
      assert.equal(accepts(s), jsonObject(s), s);
    }
  });

  it('survives hostile nesting without overflowing the stack', () => {
    assert.throws(() => scanBody(Buffer.from('{"a":' + '['.repeat(100000) + ']'.repeat(100000) + '}')), /nesting too deep/);
    assert.ok(accepts('{"a":' + '['.repeat(500) + ']'.repeat(500) + '}'));
  });
});
