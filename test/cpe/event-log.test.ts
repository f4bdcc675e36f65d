import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventLog } from '../../cpe/event-log.js';
import { parseEventQuery } from '../../lib/events/filter.js';
import type { EventEntry } from '../../lib/events/record.js';
import { silentLogger } from '../../lib/log.js';

const T0 = Date.parse('2026-11-26T10:00:00Z');

function entry(i: number, over: Partial<EventEntry> = {}): EventEntry {
  return {
    id: `id-${i}`,
    time: T0 + i * 1000,
    deployable: i % 2 === 0 ? 'even' : 'odd',
    assembly: `a${i % 3}`,
    service: `s${i % 5}`,
    kind: i % 4 === 0 ? 'service_state_change' : 'action_started',
    state: i % 4 === 0 ? 'failed' : null,
    severity: i % 4 === 0 ? 'warn' : 'info',
    source: 'dpe.test',
    text: `event number ${i}`,
    values: { id: `id-${i}`, n: i },
    ...over,
  };
}

describe('the event log (SQLite)', () => {
  let dir: string;
  let log: EventLog;
  const open = (retention = { maxAgeMs: 0, maxCount: 0 }): EventLog =>
    EventLog.open(dir, { retention, log: silentLogger() });
  const ids = (raw: Record<string, unknown>): string[] =>
    log.query(parseEventQuery(raw, T0 + 100_000)).events.map((e) => e.id);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cpe-events-'));
    log = open();
    log.append(Array.from({ length: 40 }, (_, i) => entry(i)));
  });
  afterEach(() => {
    log.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores each id once: a resent event is a duplicate, and numbered in order of arrival', () => {
    assert.equal(log.count(), 40);
    const again = log.append([entry(3), entry(40), entry(40)]);
    assert.deepEqual(
      again.map((e) => [e.id, e.seq]),
      [['id-40', 41]],
    );
    assert.equal(log.count(), 41);
    assert.equal(log.lastSeq(), 41);
  });

  it('answers newest first, with every field as stored', () => {
    const [e] = log.query(parseEventQuery({ limit: 1 }, T0)).events;
    assert.deepEqual({ ...e, stored: 0 }, { ...entry(39), seq: 40, stored: 0 });
  });

  it('filters by deployable, assembly, service, kind and state', () => {
    assert.equal(ids({ deployable: 'odd', limit: 1000 }).length, 20);
    assert.deepEqual(ids({ assembly: 'a1', service: 's3', limit: 3 }), ['id-28', 'id-13']);
    assert.ok(ids({ kind: 'service_state_change' }).every((id) => Number(id.slice(3)) % 4 === 0));
    assert.equal(ids({ state: 'failed' }).length, 10);
    assert.deepEqual(ids({ deployable: 'nosuch' }), []);
  });

  it('filters by severity, this severe or worse', () => {
    assert.equal(ids({ severity: 'warn' }).length, 10);
    assert.equal(ids({ severity: 'info' }).length, 40);
    assert.equal(ids({ severity: 'error' }).length, 0);
    log.append([entry(100, { severity: 'crit' })]);
    assert.deepEqual(ids({ severity: 'error' }), ['id-100']);
  });

  it('filters by time, both ends included', () => {
    const since = new Date(T0 + 10_000).toISOString();
    const until = new Date(T0 + 12_000).toISOString();
    assert.deepEqual(ids({ since, until }), ['id-12', 'id-11', 'id-10']);
  });

  it('searches the text without reading % and _ as wildcards, and SQL as SQL', () => {
    log.append([
      entry(101, { text: '100% done' }),
      entry(102, { text: '100 percent done' }),
      entry(103, { text: "it's a_b" }),
      entry(104, { text: 'it is aXb' }),
      entry(105, { text: "x' OR '1'='1" }),
    ]);
    assert.deepEqual(ids({ text: '100%' }), ['id-101']);
    assert.deepEqual(ids({ text: 'a_b' }), ['id-103']);
    assert.deepEqual(ids({ text: "' OR '1'='1" }), ['id-105']);
    assert.deepEqual(ids({ text: 'NUMBER 7' }), ['id-7']);
    assert.equal(log.count(), 45); // nothing was run as SQL
  });

  it('pages with cursors through every event once, newest first', () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 20; pages++) {
      const a = log.query(parseEventQuery({ limit: 7, ...(cursor ? { cursor } : {}) }, T0));
      seen.push(...a.events.map((e) => e.id));
      if (a.nextCursor === null) break;
      cursor = a.nextCursor;
    }
    assert.deepEqual(
      seen,
      Array.from({ length: 40 }, (_, i) => `id-${39 - i}`),
    );
  });

  it('pages through events of the same time by arrival', () => {
    log.append([101, 102, 103].map((i) => entry(i, { time: T0, deployable: 'same' })));
    const first = log.query(parseEventQuery({ deployable: 'same', limit: 2 }, T0));
    const rest = log.query(
      parseEventQuery({ deployable: 'same', limit: 2, cursor: first.nextCursor }, T0),
    );
    assert.deepEqual(
      [...first.events, ...rest.events].map((e) => e.id),
      ['id-103', 'id-102', 'id-101'],
    );
  });

  it('follows: what was stored after a seq, oldest first, with the seq to go on from', () => {
    const a = log.query(parseEventQuery({ follow: true, after: 35, deployable: 'odd' }, T0));
    assert.deepEqual(
      a.events.map((e) => e.id),
      ['id-35', 'id-37', 'id-39'],
    );
    assert.equal(a.lastSeq, 40);
    const none = log.query(parseEventQuery({ follow: true, after: a.lastSeq }, T0));
    assert.deepEqual([none.events, none.lastSeq], [[], 40]);
    // A full page goes on from its own last event, not from the newest.
    const page = log.query(parseEventQuery({ follow: true, after: 0, limit: 5 }, T0));
    assert.equal(page.lastSeq, 5);
  });

  it('keeps what it stored across a reopen', () => {
    log.close();
    log = open();
    assert.equal(log.count(), 40);
    assert.deepEqual(log.append([entry(0)]), []);
  });

  it('deletes by age and by count, and reports how many', async () => {
    log.close();
    log = open({ maxAgeMs: 30_000, maxCount: 0 });
    assert.equal(await log.prune(T0 + 40_000), 10); // times T0 … T0+9s are over 30 s old
    assert.equal(log.count(), 30);
    log.close();
    log = open({ maxAgeMs: 0, maxCount: 12 });
    assert.equal(await log.prune(T0), 18);
    assert.deepEqual(ids({ limit: 1000 }).at(-1), 'id-28');
  });

  it('refuses a file that is not an event log, saying what to do', () => {
    log.close();
    const other = mkdtempSync(join(tmpdir(), 'cpe-events-bad-'));
    writeFileSync(join(other, 'events.db'), 'not a database, just some text '.repeat(100));
    assert.throws(
      () => EventLog.open(other, { retention: { maxAgeMs: 0, maxCount: 0 }, log: silentLogger() }),
      {
        code: 'EVENT_LOG_UNUSABLE',
        message: /events\.db: .*move the file away/,
      },
    );
    rmSync(other, { recursive: true, force: true });
    log = open();
  });
});
