import assert from 'node:assert/strict';
import { randomId } from '../../lib/random-id.js';

describe('randomId', () => {
  it('makes version 4 UUIDs, none twice, across many refills of its pool', () => {
    const ids = Array.from({ length: 5000 }, () => randomId());
    for (const id of ids)
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('uses every bit it may: each hex digit outside the fixed ones takes many values', () => {
    const ids = Array.from({ length: 2000 }, () => randomId().replaceAll('-', ''));
    for (let i = 0; i < 32; i++) {
      if (i === 12) continue; // the version
      const seen = new Set(ids.map((id) => id[i]));
      assert.ok(seen.size >= (i === 16 ? 4 : 16), `digit ${i}: ${[...seen].join('')}`);
    }
  });
});
