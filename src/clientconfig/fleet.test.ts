import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fleetRows } from './fleet.js';
import { settingsChecksum } from './managed-settings.js';

describe('fleet status', () => {
  const entries = [{ groups: ['eng'], settings: { model: 'claude-haiku-4-5' } }];
  const current = settingsChecksum({ model: 'claude-haiku-4-5' });
  const old = settingsChecksum({ model: 'claude-sonnet-4-6' });
  const row = (identity: string, groups: string[], checksum: string) => ({ identity, user: identity, team: null, groups, checksum, seen_at: 1 });
  it('tells current, stale (served before), edited (never served) and unmanaged (no policy meant) apart', () => {
    const rows = fleetRows(
      [row('a', ['eng'], current), row('b', ['eng'], old), row('c', ['eng'], 'sha256:' + '0'.repeat(64)), row('d', ['sales'], current)],
      [current, old],
      entries,
    );
    assert.deepEqual(
      rows.map((r) => [r.identity, r.status, r.expected]),
      [
        ['a', 'current', current],
        ['b', 'stale', current],
        ['c', 'edited', current],
        ['d', 'unmanaged', null],
      ],
    );
  });
});
