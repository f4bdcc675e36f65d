import assert from 'node:assert/strict';
import { isoTime } from '../../lib/clock.js';

describe('isoTime (lib/clock.ts)', () => {
  it('writes a time as Date.prototype.toISOString does', () => {
    const times = [0, -1, 1, 951_782_400_000, 1_709_251_199_999, 253_402_300_799_999];
    times.push(-62_167_219_200_000); // 0000-01-01T00:00:00.000Z
    for (let t = 1, i = 0; i < 500; i++) times.push((t = (t * 48_271) % 2_147_483_647) * 117_000);
    for (const t of times) assert.equal(isoTime(t), new Date(t).toISOString(), String(t));
  });

  it('writes years outside 0-9999, and fails on an invalid time, as V8 does', () => {
    assert.equal(isoTime(253_402_300_800_000), '+010000-01-01T00:00:00.000Z');
    assert.equal(isoTime(-62_167_219_200_001), '-000001-12-31T23:59:59.999Z');
    assert.throws(() => isoTime(Number.NaN), RangeError);
  });
});
