/**
 * The event log's filters, declared once: the HTTP API validates its query
 * string with the JSON schema made from this table (and the OpenAPI document
 * in schemas/ is made from it too), the QMF method `events_query` takes the
 * same names, and parseEventQuery turns either into a checked EventQuery.
 * Nothing else reaches the SQL: a filter is a name from this table and a
 * value bound as a parameter.
 */
import { SEVERITIES, type Severity } from '../bus/qmf.js';
import { CpeError } from '../errors.js';

export const EventCode = {
  badFilter: 'BAD_FILTER',
} as const;

export const MAX_LIMIT = 1000;
export const DEFAULT_LIMIT = 100;
/** How long one `follow` call waits for a first event. */
export const MAX_WAIT_MS = 30_000;

const NAME = '^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$';
const WORD = '^[a-z][a-z0-9_-]{0,63}$';
const TIME =
  'an ISO 8601 date-time (2026-11-26T19:00:00Z), ms since the epoch, or an age: 30s, 10m, 2h, 7d';

interface FilterSpec {
  readonly type: 'string' | 'integer' | 'boolean';
  readonly description: string;
  readonly pattern?: string;
  readonly maxLength?: number;
  readonly enum?: readonly string[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly default?: number | boolean;
}

/** Every filter, its type and limits, and what it does (the docs' table is made from this). */
export const EVENT_FILTERS = {
  deployable: { type: 'string', pattern: NAME, description: 'only events of this deployable' },
  assembly: { type: 'string', pattern: NAME, description: 'only events about this assembly' },
  service: { type: 'string', pattern: NAME, description: 'only events about this service' },
  kind: {
    type: 'string',
    pattern: WORD,
    description: 'only this event class, e.g. service_state_change',
  },
  state: {
    type: 'string',
    pattern: WORD,
    description: 'only events reporting this state, e.g. failed, down, degraded',
  },
  severity: {
    type: 'string',
    enum: SEVERITIES,
    description: 'only this severe or worse (emerg … debug)',
  },
  since: { type: 'string', maxLength: 40, description: `only events at or after this: ${TIME}` },
  until: { type: 'string', maxLength: 40, description: `only events at or before this: ${TIME}` },
  text: {
    type: 'string',
    maxLength: 200,
    description:
      'only events whose line contains this (case-insensitive; % and _ are plain characters)',
  },
  limit: {
    type: 'integer',
    minimum: 1,
    maximum: MAX_LIMIT,
    default: DEFAULT_LIMIT,
    description: `at most this many events (1 to ${MAX_LIMIT})`,
  },
  cursor: {
    type: 'string',
    maxLength: 64,
    pattern: '^[A-Za-z0-9_-]+$',
    description: "the next page: a previous answer's `next_cursor` (newest first)",
  },
  follow: {
    type: 'boolean',
    default: false,
    description:
      'oldest first, only events stored after `after`; waits up to `wait_ms` for the first',
  },
  after: {
    type: 'integer',
    minimum: 0,
    description: "with follow: a previous answer's `last_seq` (default: the newest stored)",
  },
  wait_ms: {
    type: 'integer',
    minimum: 0,
    maximum: MAX_WAIT_MS,
    default: 0,
    description: `with follow: how long to wait for a first event, in ms (at most ${MAX_WAIT_MS})`,
  },
} as const satisfies Record<string, FilterSpec>;

export type FilterName = keyof typeof EVENT_FILTERS;

export interface EventQuery {
  readonly deployable?: string;
  readonly assembly?: string;
  readonly service?: string;
  readonly kind?: string;
  readonly state?: string;
  /** This severe or worse. */
  readonly severity?: Severity;
  readonly since?: number;
  readonly until?: number;
  readonly text?: string;
  readonly limit: number;
  readonly cursor?: { readonly time: number; readonly seq: number };
  readonly follow: boolean;
  readonly after?: number;
  readonly waitMs: number;
}

/** The filters as a JSON schema for a query string (fastify validates with it). */
export function eventFilterSchema(): Record<string, unknown> {
  return {
    type: 'object',
    additionalProperties: false,
    properties: Object.fromEntries(
      Object.entries(EVENT_FILTERS).map(([k, spec]) => [k, { ...spec }]),
    ),
  };
}

function bad(message: string): CpeError {
  return new CpeError(EventCode.badFilter, message);
}

const AGE_MS: Readonly<Record<string, number>> = { s: 1e3, m: 6e4, h: 36e5, d: 864e5 };

/** A time filter's value → ms since the epoch. */
export function parseTime(filter: string, value: unknown, now: number): number {
  if (value instanceof Date) value = value.getTime();
  if (typeof value === 'number' || (typeof value === 'string' && /^\d{1,15}$/.test(value))) {
    const ms = Number(value);
    if (Number.isSafeInteger(ms) && ms >= 0) return ms;
  } else if (typeof value === 'string') {
    const age = /^(\d{1,9})([smhd])$/.exec(value);
    if (age) return now - Number(age[1]) * AGE_MS[age[2]!]!;
    // Date.parse alone takes "1" or "March"; only a full ISO 8601 date(-time) is meant here.
    if (
      /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)
    ) {
      const [y, m, d] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
      // Date.parse rolls 2026-02-30 over to March; a day past its month is refused.
      const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
      const ms = Date.parse(value);
      if (Number.isFinite(ms) && m >= 1 && m <= 12 && d >= 1 && d <= days) return ms;
    }
  }
  throw bad(`${filter}: expected ${TIME}, not ${JSON.stringify(value)}`);
}

function text(filter: FilterName, value: unknown): string {
  const spec: FilterSpec = EVENT_FILTERS[filter];
  if (typeof value !== 'string') throw bad(`${filter}: expected a string`);
  if (spec.maxLength !== undefined && value.length > spec.maxLength)
    throw bad(`${filter}: longer than ${spec.maxLength} characters`);
  if (spec.pattern !== undefined && !new RegExp(spec.pattern).test(value))
    throw bad(`${filter}: ${JSON.stringify(value)} is not a valid ${filter}`);
  if (spec.enum !== undefined && !spec.enum.includes(value))
    throw bad(`${filter}: must be one of ${spec.enum.join(', ')}`);
  return value;
}

function integer(filter: FilterName, value: unknown): number {
  const spec: FilterSpec = EVENT_FILTERS[filter];
  const n = typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n))
    throw bad(`${filter}: expected an integer`);
  if (spec.minimum !== undefined && n < spec.minimum)
    throw bad(`${filter}: must be at least ${spec.minimum}`);
  if (spec.maximum !== undefined && n > spec.maximum)
    throw bad(`${filter}: must be at most ${spec.maximum}`);
  return n;
}

function bool(filter: FilterName, value: unknown): boolean {
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw bad(`${filter}: expected true or false`);
}

export function encodeCursor(time: number, seq: number): string {
  return Buffer.from(`${time}.${seq}`).toString('base64url');
}

function decodeCursor(value: string): { time: number; seq: number } {
  const m = /^(-?\d{1,15})\.(\d{1,15})$/.exec(Buffer.from(value, 'base64url').toString());
  if (!m) throw bad('cursor: not a cursor this log gave out');
  return { time: Number(m[1]), seq: Number(m[2]) };
}

/**
 * Checks filters from any caller (HTTP query string, QMF arguments, cpectl):
 * unknown names, wrong types, bad dates and contradictions are BAD_FILTER.
 * Null or absent means "not filtered".
 */
export function parseEventQuery(raw: Readonly<Record<string, unknown>>, now: number): EventQuery {
  const given = Object.entries(raw).filter(([, v]) => v !== undefined && v !== null);
  const q: Record<string, unknown> = { limit: DEFAULT_LIMIT, follow: false, waitMs: 0 };
  for (const [key, value] of given) {
    if (!Object.hasOwn(EVENT_FILTERS, key))
      throw bad(`unknown filter "${key}" (filters: ${Object.keys(EVENT_FILTERS).join(', ')})`);
    const filter = key as FilterName;
    switch (filter) {
      case 'since':
      case 'until':
        q[filter] = parseTime(filter, value, now);
        break;
      case 'limit':
      case 'after':
        q[filter] = integer(filter, value);
        break;
      case 'wait_ms':
        q.waitMs = integer(filter, value);
        break;
      case 'follow':
        q.follow = bool(filter, value);
        break;
      case 'cursor':
        q.cursor = decodeCursor(text(filter, value));
        break;
      default:
        q[filter] = text(filter, value);
    }
  }
  const query = q as unknown as EventQuery;
  if (query.since !== undefined && query.until !== undefined && query.since > query.until)
    throw bad('since is after until');
  if (query.follow && query.cursor) throw bad('cursor pages back; follow goes forward: not both');
  if (!query.follow && (query.after !== undefined || query.waitMs > 0))
    throw bad('after and wait_ms go with follow=true');
  return query;
}
