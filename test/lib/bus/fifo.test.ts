import assert from 'node:assert/strict';
import { Fifo } from '../../../lib/bus/fifo.js';

describe('Fifo', () => {
  it('gives items back in order, across its compactions', () => {
    const fifo = new Fifo<number>();
    let next = 0;
    let expected = 0;
    // Interleave pushes and shifts so the consumed prefix is dropped many times.
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 3000; i++) fifo.push(next++);
      for (let i = 0; i < 2000; i++) assert.equal(fifo.shift(), expected++);
    }
    assert.equal(fifo.length, next - expected);
    while (fifo.length > 0) assert.equal(fifo.shift(), expected++);
    assert.equal(expected, next);
    assert.equal(fifo.shift(), undefined);
    assert.equal(fifo.length, 0);
  });
});
