import { strict as assert } from 'node:assert';
import { StartLimit } from '../../cpe/start-limit.js';
import { FakeClock } from '../support/fake-clock.js';

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('StartLimit: at most N DPEs starting at once', () => {
  it('lets N start, and the next when one beats, is given back, or its hold runs out', async () => {
    const clock = new FakeClock();
    const limit = new StartLimit(2, clock, 10_000);
    const started: string[] = [];
    const start = (name: string): void => void limit.acquire(name).then(() => started.push(name));
    for (const n of ['a', 'b', 'c', 'd', 'e']) start(n);
    await flush();
    assert.deepEqual(started, ['a', 'b']);
    assert.equal(limit.waiting, 3);
    limit.started('a');
    await flush();
    assert.deepEqual(started, ['a', 'b', 'c']);
    limit.release('c'); // it did not start after all
    await flush();
    assert.deepEqual(started, ['a', 'b', 'c', 'd']);
    await clock.advance(10_000); // b and d never beat
    await flush();
    assert.deepEqual(started, ['a', 'b', 'c', 'd', 'e']);
    limit.started('a'); // twice, or not held: nothing is given back twice
    limit.started('zzz');
    start('f');
    start('g');
    await flush();
    assert.deepEqual(started.slice(5), ['f']);
  });
});
