/**
 * An event as the event log keeps and answers it (schemas/cpe-api.md,
 * "Event log"): the bus event's facts lifted into columns that can be
 * filtered, the rest kept as they came.
 */
import { isoTime } from '../clock.js';
import {
  SEVERITIES,
  type BusEvent,
  type QmfMap,
  type QmfValue,
  type Severity,
} from '../bus/qmf.js';
import { describeEvent } from './describe.js';

export interface LoggedEvent {
  /** The CPE's order of arrival: the cursor of `follow` and the SSE event id. */
  readonly seq: number;
  /** The sender's id (a UUID): the same event sent twice is stored once. */
  readonly id: string;
  /** When it happened, in ms since the epoch (the sender's clock). */
  readonly time: number;
  /** When the CPE stored it. */
  readonly stored: number;
  readonly deployable: string | null;
  readonly assembly: string | null;
  readonly service: string | null;
  /** The event class, e.g. service_state_change. */
  readonly kind: string;
  /** The state it reports (state changes), else null. */
  readonly state: string | null;
  readonly severity: Severity;
  /** Who sent it: `cpe`, or `dpe.NAME`. */
  readonly source: string;
  /** One line for people. */
  readonly text: string;
  /** Everything the event carried, as JSON values (timestamps as ISO strings). */
  readonly values: Record<string, unknown>;
}

/** What goes into the log: an event before the log numbers it. */
export type EventEntry = Omit<LoggedEvent, 'seq' | 'stored'>;

function name(v: QmfValue | undefined): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

/** QMF values as JSON: timestamps as ISO strings, binaries as base64. */
export function jsonValue(v: QmfValue): unknown {
  if (v instanceof Date) return isoTime(v.getTime());
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (Array.isArray(v)) return v.map(jsonValue);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = jsonValue(x);
    return out;
  }
  return v;
}

/** A bus event (with its `id` among its values) as a log entry; null without an id. */
export function entryOf(event: BusEvent, source: string): EventEntry | null {
  const v = event.values;
  const id = name(v.id);
  if (id === null) return null;
  return {
    id,
    time: event.timestamp,
    deployable: name(v.deployable),
    assembly: name(v.assembly),
    service: name(v.service),
    kind: event.name,
    state: name(v.state),
    severity: event.severity,
    source,
    text: describeEvent(event.name, v),
    values: jsonValue(v) as Record<string, unknown>,
  };
}

/** Back to a bus event, for the topic (the values as the sender sent them, but timestamps). */
export function busEventOf(e: EventEntry): BusEvent {
  return { name: e.kind, timestamp: e.time, severity: e.severity, values: e.values as QmfMap };
}

/** Severity names by rank: 0 is the most severe. */
export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}
