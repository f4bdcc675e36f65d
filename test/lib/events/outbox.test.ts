import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BusEvent } from '../../../lib/bus/qmf.js';
import { Outbox } from '../../../lib/events/outbox.js';
import { silentLogger } from '../../../lib/log.js';

const event = (i: number): BusEvent => ({
  name: 'service_state_change',
  timestamp: 1_000 + i,
  severity: 'warn',
  values: { id: `e${i}`, deployable: 'd', n: i },
});
const ids = (o: Outbox): unknown[] => o.peek(1e9).map((e) => e.values.id);

describe("the DPE's event outbox", () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cpe-outbox-'));
    file = join(dir, 'outbox.jsonl');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps what is not acknowledged across a restart (no close: as after kill -9)', () => {
    const a = new Outbox(file, 100, silentLogger());
    for (let i = 0; i < 5; i++) a.add(event(i));
    a.ack(2);
    // No close(): whatever write(2) took is what a killed process leaves.
    const b = new Outbox(file, 100, silentLogger());
    assert.deepEqual(ids(b), ['e2', 'e3', 'e4']);
    assert.deepEqual(b.peek(1)[0], event(2));
    b.close();
  });

  it('empties the file once everything is acknowledged', () => {
    const a = new Outbox(file, 100, silentLogger());
    for (let i = 0; i < 3; i++) a.add(event(i));
    a.ack(3);
    assert.equal(statSync(file).size, 0);
    a.add(event(9));
    a.close();
    assert.deepEqual(ids(new Outbox(file, 100, silentLogger())), ['e9']);
  });

  it('ignores a last line torn by a crash mid-write', () => {
    const a = new Outbox(file, 100, silentLogger());
    a.add(event(1));
    a.close();
    appendFileSync(file, '{"e":{"n":"service_sta');
    assert.deepEqual(ids(new Outbox(file, 100, silentLogger())), ['e1']);
    // …and rewrites the file without it.
    assert.doesNotMatch(readFileSync(file, 'utf8'), /service_sta$/);
  });

  it('drops the oldest tenth when full, and counts them', () => {
    const a = new Outbox(file, 10, silentLogger());
    for (let i = 0; i < 11; i++) a.add(event(i));
    assert.equal(a.dropped, 2);
    assert.deepEqual(ids(a), ['e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9', 'e10']);
    a.close();
    assert.equal(new Outbox(file, 10, silentLogger()).size, 9);
  });

  it('works in memory without a file', () => {
    const a = new Outbox(null, 10, silentLogger());
    a.add(event(1));
    a.add(event(2));
    a.ack(1);
    assert.deepEqual(ids(a), ['e2']);
    a.close();
  });
});
