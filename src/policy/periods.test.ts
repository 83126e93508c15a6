import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { periodAt } from './periods.js';

const iso = (t: number) => new Date(t).toISOString();

describe('budget periods', () => {
  it('aligns days, weeks (Monday) and months to the time zone', () => {
    const t = Date.parse('2026-11-25T15:00:00Z'); // a Wednesday
    assert.deepEqual([iso(periodAt('day', t, 'UTC').start), iso(periodAt('day', t, 'UTC').end)], ['2026-11-25T00:00:00.000Z', '2026-11-26T00:00:00.000Z']);
    assert.deepEqual([iso(periodAt('week', t, 'UTC').start), iso(periodAt('week', t, 'UTC').end)], ['2026-11-23T00:00:00.000Z', '2026-11-30T00:00:00.000Z']);
    assert.deepEqual([iso(periodAt('month', t, 'UTC').start), iso(periodAt('month', t, 'UTC').end)], ['2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z']);
    // Tokyo is UTC+9: its day starts at 15:00 UTC the evening before.
    assert.deepEqual(
      [iso(periodAt('day', t, 'Asia/Tokyo').start), iso(periodAt('day', t, 'Asia/Tokyo').end)],
      ['2026-11-25T15:00:00.000Z', '2026-11-26T15:00:00.000Z'],
    );
    assert.equal(iso(periodAt('month', Date.parse('2026-12-31T23:30:00Z'), 'Europe/Berlin').start), '2026-12-31T23:00:00.000Z', 'already January in Berlin');
    assert.deepEqual(periodAt('total', t, 'UTC'), { start: 0, end: Infinity });
  });

  it('handles daylight-saving days of 23 and 25 hours', () => {
    const spring = periodAt('day', Date.parse('2026-03-29T12:00:00Z'), 'Europe/Berlin');
    assert.equal((spring.end - spring.start) / 3600e3, 23);
    assert.equal(iso(spring.start), '2026-03-28T23:00:00.000Z');
    const autumn = periodAt('day', Date.parse('2026-10-25T12:00:00Z'), 'Europe/Berlin');
    assert.equal((autumn.end - autumn.start) / 3600e3, 25);
  });

  it('puts the boundary instant in the new period', () => {
    const end = periodAt('day', Date.parse('2026-11-25T10:00:00Z'), 'UTC').end;
    assert.equal(periodAt('day', end - 1, 'UTC').end, end);
    assert.equal(periodAt('day', end, 'UTC').start, end);
  });
});
