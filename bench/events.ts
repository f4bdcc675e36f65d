/**
 * Event log benchmarks (compiled code, as in production):
 * - events_stored_per_s: events_submit calls to a real CPE over its embedded
 *   router, 200 events a call from two senders (as DPEs hand over their
 *   outboxes), each call answered once stored and fsynced (events.sync full);
 * - query_1m_ms: the newest 100 events of one deployable within a week, over
 *   1,000,000 stored (in-process EventLog.query, the SQL and the rows; and
 *   the same over HTTP from the CPE, whole round trip);
 * - cpe_start_1m_ms: the CPE process from spawn to its "ready" line with
 *   1,000,000 events stored, beside the same with none.
 */
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EventLog } from '../cpe/event-log.js';
import { eventBody } from '../lib/bus/qmf.js';
import { parseEventQuery } from '../lib/events/filter.js';
import type { EventEntry } from '../lib/events/record.js';
import { silentLogger } from '../lib/log.js';
import { CpeClient, CpeProcess } from '../test/support/cpe.js';
import { median, percentile, type Figures } from './report.js';

const STORED = 1_000_000;
const DEPLOYABLES = 100;
const SPAN_MS = 20 * 86_400_000; // inside the default retention of 30 days
const SUBMITTED = 40_000;
const BATCH = 200;
const QUERIES = 200;
const STARTS = 5;

const KINDS = [
  'service_state_change',
  'action_started',
  'action_finished',
  'assembly_state_change',
];

/** A million events as DPEs make them: 100 deployables, 10 assemblies each, over 20 days. */
function fill(dir: string, now: number): void {
  const log = EventLog.open(dir, {
    retention: { maxAgeMs: 0, maxCount: 0 },
    sync: 'normal',
    log: silentLogger(),
  });
  const step = SPAN_MS / STORED;
  for (let start = 0; start < STORED; start += 10_000) {
    const batch: EventEntry[] = [];
    for (let i = start; i < start + 10_000; i++) {
      const d = i % DEPLOYABLES;
      const a = `web${(i >> 7) % 10}`;
      const kind = KINDS[i % KINDS.length]!;
      batch.push({
        id: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
        time: Math.round(now - SPAN_MS + i * step),
        deployable: `deployable-${d}`,
        assembly: a,
        service: `rsc_${a}_httpd`,
        kind,
        state: kind.endsWith('state_change') ? 'running' : null,
        severity: 'info',
        source: `dpe.deployable-${d}`,
        text: `service rsc_${a}_httpd on ${a}: starting → running (start on ${a}: rc 0)`,
        values: { id: i, deployable: `deployable-${d}`, assembly: a, reason: 'start on web: rc 0' },
      });
    }
    log.append(batch, now);
  }
  log.close();
}

async function stored(): Promise<Figures> {
  const cpe = await CpeProcess.create(true);
  await cpe.start();
  // Each logs in as the DPE it submits for: the CPE takes a DPE's events from that DPE only.
  const senders = [new CpeClient(cpe.urlAs('dpe.bench')), new CpeClient(cpe.urlAs('dpe.bench'))];
  try {
    for (const s of senders) await s.bus.whenUp(10_000);
    let next = 0;
    const event = (i: number) =>
      eventBody({
        name: 'action_finished',
        timestamp: Date.now(),
        severity: 'info',
        values: { id: `bench-${i}`, deployable: `d${i % 10}`, service: 'web', type: 'start' },
      });
    const send = async (client: CpeClient): Promise<void> => {
      while (next < SUBMITTED) {
        const from = next;
        next += BATCH;
        const events = Array.from({ length: BATCH }, (_, k) => event(from + k));
        await client.call('events_submit', { source: 'dpe.bench', events });
      }
    };
    const start = process.hrtime.bigint();
    await Promise.all(senders.map(send));
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    return {
      events_stored_per_s: {
        value: Math.round(SUBMITTED / seconds),
        unit: '/s',
        note: `${SUBMITTED} events, ${BATCH} a call, 2 senders, each call answered once stored and fsynced`,
      },
    };
  } finally {
    for (const s of senders) await s.close();
    await cpe.stop();
    rmSync(cpe.stateDir, { recursive: true, force: true });
  }
}

async function overMillion(): Promise<Figures> {
  const now = Date.now();
  const cpe = await CpeProcess.create(true);
  const dir = cpe.stateDir;
  const t0 = process.hrtime.bigint();
  fill(dir, now);
  const fillS = Number(process.hrtime.bigint() - t0) / 1e9;
  const mb = statSync(join(dir, 'events.db')).size / 1024 / 1024;

  // The query, in process: one deployable, a week's window, newest 100.
  const log = EventLog.open(dir, {
    retention: { maxAgeMs: 0, maxCount: 0 },
    log: silentLogger(),
  });
  const query = (i: number) =>
    parseEventQuery(
      {
        deployable: `deployable-${(i * 37) % DEPLOYABLES}`,
        since: now - 10 * 86_400_000 - (i % 5) * 86_400_000,
        until: now - 3 * 86_400_000 - (i % 5) * 86_400_000,
        limit: 100,
      },
      now,
    );
  const times: number[] = [];
  for (let i = 0; i < QUERIES + 10; i++) {
    const start = process.hrtime.bigint();
    const a = log.query(query(i));
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (a.events.length !== 100) throw new Error(`query ${i}: ${a.events.length} events, not 100`);
    if (i >= 10) times.push(ms);
  }
  log.close();

  // CPE start to ready, with the million and with none, alternated.
  const empty = await CpeProcess.create(true);
  const starts: number[] = [];
  const emptyStarts: number[] = [];
  const timeStart = async (p: CpeProcess): Promise<number> => {
    const start = process.hrtime.bigint();
    await p.start();
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    return ms;
  };
  const http: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    starts.push(await timeStart(cpe));
    if (i === STARTS - 1) {
      for (let q = 0; q < 50; q++) {
        const d = `deployable-${(q * 13) % DEPLOYABLES}`;
        const url = `${cpe.httpUrl}/api/v1/events?deployable=${d}&since=${now - 10 * 86_400_000}&until=${now - 3 * 86_400_000}&limit=100`;
        const start = process.hrtime.bigint();
        const res = await fetch(url);
        await res.json();
        if (q >= 5) http.push(Number(process.hrtime.bigint() - start) / 1e6);
      }
    }
    await cpe.stop();
    emptyStarts.push(await timeStart(empty));
    await empty.stop();
  }
  rmSync(dir, { recursive: true, force: true });
  rmSync(empty.stateDir, { recursive: true, force: true });
  return {
    query_1m_ms: {
      value: median(times),
      unit: 'ms',
      note: `median of ${QUERIES}, in process (SQL + rows); p99 ${percentile(times, 99).toFixed(2)} ms; ${STORED} stored, ${mb.toFixed(0)} MB`,
    },
    query_1m_http_ms: {
      value: median(http),
      unit: 'ms',
      note: 'the same query over HTTP from the CPE, whole round trip, median of 45',
    },
    cpe_start_1m_ms: {
      value: median(starts),
      unit: 'ms',
      note: `spawn to "ready", median of ${STARTS}, ${STORED} events stored (filled in ${fillS.toFixed(0)} s)`,
    },
    cpe_start_empty_ms: {
      value: median(emptyStarts),
      unit: 'ms',
      note: 'the same with no events, alternated with the above',
    },
  };
}

export async function runEvents(): Promise<Figures> {
  return { ...(await stored()), ...(await overMillion()) };
}
