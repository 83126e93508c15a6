import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { packageRoot } from '../util/paths.js';
import { errorCodes, GatewayError, type ErrorCode } from './errors.js';

describe('error codes', () => {
  const doc = readFileSync(resolve(packageRoot(), 'docs', 'errors.md'), 'utf8');

  it('documents every code with its status and type', () => {
    for (const [code, e] of Object.entries(errorCodes)) {
      assert.ok(doc.includes(`| \`${code}\` | ${e.status} | \`${e.type}\` |`), `docs/errors.md lacks ${code}`);
    }
  });

  it('renders the Anthropic error envelope with the code first', () => {
    for (const code of Object.keys(errorCodes) as ErrorCode[]) {
      const e = new GatewayError(code, 'detail');
      const body = JSON.parse(e.body('tg_1')) as { type: string; error: { type: string; message: string }; request_id: string };
      assert.equal(body.type, 'error');
      assert.equal(body.error.type, errorCodes[code].type);
      assert.equal(body.error.message, `${code}: detail`);
      assert.equal(body.request_id, 'tg_1');
    }
  });
});
