/**
 * Answers an event query the same way for QMF and HTTP: a page of stored
 * events, or with follow, those stored after a seq, waiting up to `wait_ms`
 * for the first (a long poll: every stored batch wakes it, the SQL decides).
 */
import { isoTime } from '../lib/clock.js';
import type { QmfMap, QmfValue } from '../lib/bus/qmf.js';
import type { EventQuery } from '../lib/events/filter.js';
import type { LoggedEvent } from '../lib/events/record.js';
import type { QueryAnswer } from './event-log.js';
import type { EventPipeline } from './event-pipeline.js';

export async function queryEvents(pipeline: EventPipeline, q: EventQuery): Promise<QueryAnswer> {
  // "After" without a seq means after what is stored now, fixed before any wait.
  const query = q.follow && q.after === undefined ? { ...q, after: pipeline.store.lastSeq() } : q;
  const deadline = Date.now() + q.waitMs;
  for (;;) {
    const answer = pipeline.store.query(query);
    const left = deadline - Date.now();
    if (!q.follow || answer.events.length > 0 || left <= 0 || pipeline.closed) return answer;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        stop();
        resolve();
      }, left);
      const stop = pipeline.follow(() => {
        stop();
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** An event as the HTTP API answers it (times as ISO 8601). */
export function eventJson(e: LoggedEvent): Record<string, unknown> {
  return { ...e, time: isoTime(e.time), stored: isoTime(e.stored) };
}

/** An event as events_query answers it (times as AMQP timestamps). */
export function eventQmf(e: LoggedEvent): QmfMap {
  return { ...e, time: new Date(e.time), stored: new Date(e.stored), values: e.values as QmfValue };
}
