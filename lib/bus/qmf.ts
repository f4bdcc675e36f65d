/**
 * QMFv2's map-message conventions, carried over AMQP 1.0 (schemas/messages.md):
 * every message has application properties `x-amqp-0-10.app-id: qmf2`,
 * `qmf.opcode` and `method`; bodies are AMQP maps (and lists, for events).
 * Builders make rhea messages; parsers check what arrives and say what is
 * wrong instead of trusting it.
 */
import { isoTime } from '../clock.js';
import rhea, { type Message } from 'rhea';
import { isAmqpUuid } from './rhea-decoder.js';

export const QMF_APP_ID = 'qmf2';
export const PACKAGE = 'org.cloudpolicyengine';
/** The original's QMF package (pacemaker-cloud's src/schema.xml): its events, its `cpe` class. */
export const ORIGINAL_PACKAGE = 'org.pacemakercloud';

export const OPCODE = {
  methodRequest: '_method_request',
  methodResponse: '_method_response',
  exception: '_exception',
  dataIndication: '_data_indication',
  queryRequest: '_query_request',
  queryResponse: '_query_response',
  heartbeat: '_agent_heartbeat_indication',
} as const;

/** A value QMF maps can carry (AMQP timestamps arrive as Dates). */
export type QmfValue =
  string | number | boolean | null | Date | Buffer | QmfValue[] | { [key: string]: QmfValue };
export type QmfMap = { [key: string]: QmfValue };

export const SEVERITIES = [
  'emerg',
  'alert',
  'crit',
  'error',
  'warn',
  'notice',
  'info',
  'debug',
] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface BusEvent {
  /** The event class, e.g. service_state_change. */
  readonly name: string;
  readonly timestamp: number;
  readonly severity: Severity;
  readonly values: QmfMap;
}

export interface Heartbeat {
  /** The sender's QMF agent name, e.g. agent.wordpress.web1. */
  readonly agent: string;
  readonly timestamp: number;
  readonly intervalMs: number;
  /** Changes whenever the sender restarts: a new session. */
  readonly epoch: string;
  /** Counts up from 1 within an epoch. */
  readonly sequence: number;
  readonly values: QmfMap;
}

export class Malformed {
  constructor(readonly reason: string) {}
}

function properties(
  opcode: string,
  method: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return { 'x-amqp-0-10.app-id': QMF_APP_ID, 'qmf.opcode': opcode, method, ...extra };
}

export function opcodeOf(message: Message): string | undefined {
  const value: unknown = message.application_properties?.['qmf.opcode'];
  return typeof value === 'string' ? value : undefined;
}

function isMap(value: unknown): value is QmfMap {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    !Buffer.isBuffer(value) &&
    !(value instanceof Date)
  );
}

// --- method calls ------------------------------------------------------------------

export interface MethodRequest {
  readonly objectName: string;
  readonly method: string;
  readonly args: QmfMap;
}

export function requestMessage(
  request: MethodRequest,
  replyTo: string,
  correlationId: string,
  ttlMs: number,
): Message {
  return {
    reply_to: replyTo,
    correlation_id: correlationId,
    subject: request.method,
    ttl: ttlMs,
    application_properties: properties(OPCODE.methodRequest, 'request'),
    body: {
      _object_id: { _object_name: request.objectName },
      _method_name: request.method,
      _arguments: request.args,
    },
  };
}

export function parseRequest(message: Message): MethodRequest | Malformed {
  if (opcodeOf(message) !== OPCODE.methodRequest)
    return new Malformed('qmf.opcode is not _method_request');
  const body: unknown = message.body;
  if (!isMap(body)) return new Malformed('the body is not a map');
  const objectId = body._object_id;
  const objectName = isMap(objectId) ? objectId._object_name : undefined;
  if (typeof objectName !== 'string')
    return new Malformed('_object_id._object_name is missing or not a string');
  if (typeof body._method_name !== 'string')
    return new Malformed('_method_name is missing or not a string');
  const args = body._arguments ?? {};
  if (!isMap(args)) return new Malformed('_arguments is not a map');
  return { objectName, method: body._method_name, args };
}

/**
 * A correlation id as it goes back on the wire, of the AMQP type it came
 * with: rhea would send every Buffer as a uuid, and a binary id (of any
 * length, 16 bytes too) must come back binary, or the caller never matches
 * its answer. Decoded uuids are marked (lib/bus/rhea-decoder.ts).
 */
export function wireMessageId<T extends Message['correlation_id']>(id: T): T {
  if (Buffer.isBuffer(id) && !isAmqpUuid(id))
    return (rhea as unknown as { types: { wrap_binary(b: Buffer): T } }).types.wrap_binary(id);
  return id;
}

/** Every answer's envelope: to the caller's reply_to, with its correlation id. */
function answerMessage(
  opcode: string,
  body: QmfMap | QmfMap[],
  to: string,
  correlationId: Message['correlation_id'],
  extra: Record<string, string> = {},
): Message {
  return {
    to,
    correlation_id: wireMessageId(correlationId),
    application_properties: properties(opcode, 'response', extra),
    body,
  };
}

export function responseMessage(
  args: QmfMap,
  to: string,
  correlationId: Message['correlation_id'],
): Message {
  return answerMessage(OPCODE.methodResponse, { _arguments: args }, to, correlationId);
}

export function exceptionMessage(
  code: string,
  text: string,
  to: string,
  correlationId: Message['correlation_id'],
): Message {
  return answerMessage(
    OPCODE.exception,
    { _values: { error_code: code, error_text: text } },
    to,
    correlationId,
  );
}

export type Reply =
  | { readonly ok: true; readonly args: QmfMap }
  | { readonly ok: false; readonly code: string; readonly text: string };

export function parseReply(message: Message): Reply | Malformed {
  const body: unknown = message.body;
  if (!isMap(body)) return new Malformed('the reply body is not a map');
  const opcode = opcodeOf(message);
  if (opcode === OPCODE.methodResponse) {
    const args = body._arguments ?? {};
    return isMap(args) ? { ok: true, args } : new Malformed('_arguments is not a map');
  }
  if (opcode === OPCODE.exception) {
    const values = body._values;
    if (!isMap(values)) return new Malformed('_values is not a map');
    const code = typeof values.error_code === 'string' ? values.error_code : 'UNKNOWN_ERROR';
    const text = typeof values.error_text === 'string' ? values.error_text : 'no error text';
    return { ok: false, code, text };
  }
  return new Malformed(`unexpected qmf.opcode ${String(opcode)} in a reply`);
}

// --- queries -----------------------------------------------------------------------

/** What a `_query_request` asks for (QMFv2): objects, their ids, or their schema ids. */
export const QUERY_TARGETS = ['OBJECT', 'OBJECT_ID', 'SCHEMA_ID'] as const;
export type QueryTarget = (typeof QUERY_TARGETS)[number];

export interface Query {
  readonly what: QueryTarget;
  readonly packageName?: string;
  readonly className?: string;
  readonly objectName?: string;
}

/** A query the server can answer, or what is wrong with it (predicates are not evaluated: refused). */
export function parseQuery(message: Message): Query | Malformed {
  const body: unknown = message.body;
  if (!isMap(body)) return new Malformed('the body is not a map');
  const what = body._what;
  if (typeof what !== 'string' || !(QUERY_TARGETS as readonly string[]).includes(what))
    return new Malformed(`_what must be one of ${QUERY_TARGETS.join(', ')}`);
  if (body._where !== undefined)
    return new Malformed('query predicates (_where) are not supported');
  const schema = body._schema_id;
  const object = body._object_id;
  if (schema !== undefined && !isMap(schema)) return new Malformed('_schema_id is not a map');
  if (object !== undefined && !isMap(object)) return new Malformed('_object_id is not a map');
  const text = (v: QmfValue | undefined): string | undefined =>
    typeof v === 'string' ? v : undefined;
  return {
    what: what as QueryTarget,
    packageName: text(schema?._package_name),
    className: text(schema?._class_name),
    objectName: text(object?._object_name),
  };
}

const QUERY_CONTENT: Readonly<Record<QueryTarget, string>> = {
  OBJECT: '_data',
  OBJECT_ID: '_object_id',
  SCHEMA_ID: '_schema_id',
};

/** The answer: a list of maps, as QMFv2 sends it (in one message: `partial` is never set). */
export function queryResponseMessage(
  what: QueryTarget,
  items: QmfMap[],
  to: string,
  correlationId: Message['correlation_id'],
): Message {
  return answerMessage(OPCODE.queryResponse, items, to, correlationId, {
    'qmf.content': QUERY_CONTENT[what],
  });
}

// --- events ------------------------------------------------------------------------

/**
 * One event per message, its map as the body. QMF also allows a list of
 * event maps (parseEvents reads both), but RabbitMQ 3.x's AMQP 1.0 plugin
 * fails the whole session on an amqp-value body that is a list.
 */
export function eventMessage(event: BusEvent, packageName = PACKAGE): Message {
  return {
    application_properties: properties(OPCODE.dataIndication, 'indication', {
      'qmf.content': '_event',
    }),
    body: eventBody(event, packageName),
  };
}

/** An event as QMF's event map (a message body, or an entry of events_submit's list). */
export function eventBody(event: BusEvent, packageName = PACKAGE): QmfMap {
  return {
    _schema_id: { _package_name: packageName, _class_name: event.name, _type: '_event' },
    _timestamp: new Date(event.timestamp),
    _severity: SEVERITIES.indexOf(event.severity),
    _values: event.values,
  };
}

export function parseEvents(message: Message): BusEvent[] | Malformed {
  if (opcodeOf(message) !== OPCODE.dataIndication)
    return new Malformed('qmf.opcode is not _data_indication');
  if (message.application_properties?.['qmf.content'] !== '_event')
    return new Malformed('qmf.content is not _event');
  const body: unknown = message.body;
  const list = Array.isArray(body) ? body : [body];
  const events: BusEvent[] = [];
  for (const item of list) {
    const event = parseEventBody(item);
    if (event instanceof Malformed) return event;
    events.push(event);
  }
  return events;
}

/** One QMF event map → an event, or what is wrong with it. */
export function parseEventBody(item: unknown): BusEvent | Malformed {
  if (!isMap(item)) return new Malformed('an event is not a map');
  const schema = item._schema_id;
  const name = isMap(schema) ? schema._class_name : undefined;
  if (typeof name !== 'string') return new Malformed('_schema_id._class_name is missing');
  const values = item._values ?? {};
  if (!isMap(values)) return new Malformed('_values is not a map');
  const ts = item._timestamp;
  const severity = typeof item._severity === 'number' ? SEVERITIES[item._severity] : undefined;
  return {
    name,
    timestamp: ts instanceof Date ? ts.getTime() : typeof ts === 'number' ? ts : 0,
    severity: severity ?? 'info',
    values,
  };
}

// --- heartbeats --------------------------------------------------------------------

export function heartbeatMessage(beat: Heartbeat): Message {
  return {
    application_properties: properties(OPCODE.heartbeat, 'indication', { 'qmf.agent': beat.agent }),
    body: {
      _values: {
        ...beat.values,
        timestamp: new Date(beat.timestamp),
        heartbeat_interval_ms: beat.intervalMs,
        epoch: beat.epoch,
        sequence: beat.sequence,
      },
    },
  };
}

export function parseHeartbeat(message: Message): Heartbeat | Malformed {
  if (opcodeOf(message) !== OPCODE.heartbeat)
    return new Malformed('qmf.opcode is not _agent_heartbeat_indication');
  const agent: unknown = message.application_properties?.['qmf.agent'];
  if (typeof agent !== 'string') return new Malformed('qmf.agent is missing');
  const body: unknown = message.body;
  const values = isMap(body) ? body._values : undefined;
  if (!isMap(values)) return new Malformed('_values is missing');
  const { timestamp, heartbeat_interval_ms: interval, epoch, sequence, ...rest } = values;
  if (typeof epoch !== 'string') return new Malformed('epoch is missing');
  if (typeof sequence !== 'number' || !Number.isInteger(sequence))
    return new Malformed('sequence is missing');
  if (typeof interval !== 'number') return new Malformed('heartbeat_interval_ms is missing');
  return {
    agent,
    timestamp:
      timestamp instanceof Date
        ? timestamp.getTime()
        : typeof timestamp === 'number'
          ? timestamp
          : 0,
    intervalMs: interval,
    epoch,
    sequence,
    values: rest,
  };
}

/** A value as text for people: dates as ISO 8601, maps and lists as JSON, null as ''. */
export function qmfText(value: QmfValue | undefined): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return isoTime(value.getTime());
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
