import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventLog } from '../../cpe/event-log.js';
import { EventPipeline } from '../../cpe/event-pipeline.js';
import type { BusEvent } from '../../lib/bus/qmf.js';
import type { LoggedEvent } from '../../lib/events/record.js';
import { silentLogger } from '../../lib/log.js';

function event(id: string): BusEvent {
  return {
    name: 'action_started',
    timestamp: Date.parse('2026-11-27T10:00:00Z'),
    severity: 'info',
    values: { id, deployable: 'wp' },
  };
}

describe('the event pipeline', () => {
  let dir: string;
  let log: EventLog;
  let transactions: number;
  let published: LoggedEvent[];
  let pipeline: EventPipeline;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cpe-pipeline-'));
    log = EventLog.open(dir, { retention: { maxAgeMs: 0, maxCount: 0 }, log: silentLogger() });
    transactions = 0;
    const append = log.append.bind(log);
    log.append = (entries, now) => {
      transactions += 1;
      return append(entries, now);
    };
    published = [];
    pipeline = new EventPipeline(
      log,
      [{ name: 'test', publish: (events) => published.push(...events) }],
      silentLogger(),
    );
  });

  afterEach(async () => {
    await pipeline.close();
    log.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores what one turn submits in one transaction, and answers each submitter for its own', async () => {
    const [a, b, c] = await Promise.all([
      pipeline.submit([event('e1'), event('e2')], 'dpe.wp'),
      pipeline.submit([event('e2'), event('e3'), { ...event('x'), values: {} }], 'dpe.wp'),
      pipeline.submit([event('e1')], 'dpe.wp'),
    ]);
    assert.equal(transactions, 1);
    assert.deepEqual(a, { accepted: 2, duplicates: 0, refused: [] });
    assert.deepEqual(b, { accepted: 1, duplicates: 1, refused: ['action_started: no id'] });
    assert.deepEqual(c, { accepted: 0, duplicates: 1, refused: [] });
    assert.deepEqual(
      published.map((e) => e.id),
      ['e1', 'e2', 'e3'],
    );
    // Acknowledged means stored: a later turn is a transaction of its own, and a resend a duplicate.
    assert.deepEqual(await pipeline.submit([event('e3')], 'dpe.wp'), {
      accepted: 0,
      duplicates: 1,
      refused: [],
    });
    assert.equal(transactions, 2);
    assert.equal(log.count(), 3);
  });

  it('rejects every submission of a turn when the store fails: nothing is acknowledged', async () => {
    log.append = () => {
      throw new Error('disk full');
    };
    const results = await Promise.allSettled([
      pipeline.submit([event('e1')], 'dpe.wp'),
      pipeline.submit([event('e2')], 'dpe.wp'),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    assert.deepEqual(published, []);
  });

  it('stores what is pending when it closes', async () => {
    const pending = pipeline.submit([event('e9')], 'cpe');
    await pipeline.close();
    assert.equal((await pending).accepted, 1);
    assert.equal(log.count(), 1);
  });
});
