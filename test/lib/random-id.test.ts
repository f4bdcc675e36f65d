import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IdPool, randomId } from '../../lib/random-id.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('randomId', () => {
  it('makes version 4 UUIDs, none twice, across many refills of its pool', () => {
    const ids = Array.from({ length: 5000 }, () => randomId());
    for (const id of ids) assert.match(id, UUID_V4);
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

  it('takes its bytes from its source, and falls back to node:crypto where the source cannot be read whole', () => {
    const dir = mkdtempSync(join(tmpdir(), 'random-id-'));
    const zeros = join(dir, 'zeros');
    writeFileSync(zeros, Buffer.alloc(16 * 128));
    const fromZeros = new IdPool(zeros);
    assert.equal(fromZeros.next(), '00000000-0000-4000-8000-000000000000');
    const short = join(dir, 'short');
    writeFileSync(short, Buffer.alloc(100));
    const missing = [new IdPool(join(dir, 'none')), new IdPool(short)];
    for (const pool of missing) {
      const ids = [pool.next(), pool.next()];
      for (const id of ids) assert.match(id, UUID_V4);
      assert.notEqual(ids[0], ids[1]);
    }
  });
});
