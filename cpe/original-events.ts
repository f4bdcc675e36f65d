/**
 * The original's three events, in its words (schemas/cpe-api.md, "The
 * original's events"): pacemaker-cloud's dped raised deployable_, assembly_
 * and service_state_change in package org.pacemakercloud with its own
 * states and reason strings, and its client (pcloudsh's event receiver)
 * keys on those strings. Ours say more, in other words; this turns each
 * stored event into what the dped would have raised, if anything, and
 * publishes that on its own topic so that neither kind of client sees the
 * other's.
 */
import { ORIGINAL_EVENTS } from '../lib/addresses.js';
import type { Bus } from '../lib/bus/bus.js';
import { publishEvents } from '../lib/bus/events.js';
import { ORIGINAL_PACKAGE, type BusEvent } from '../lib/bus/qmf.js';
import { indexConfig, parseDeployableConfig, type ServiceConfig } from '../lib/config/index.js';
import { errorMessage } from '../lib/errors.js';
import type { LoggedEvent } from '../lib/events/record.js';
import type { Logger } from '../lib/log.js';
import type { EventPublisher } from './event-pipeline.js';
import type { DeployableStore } from './store.js';

/** What the dped knew that our events do not carry. */
export interface OriginalContext {
  /** The dped named deployables by uuid. */
  readonly uuid: string;
  /** …and services by their type (`op->rtype`). */
  readonly typeOf: (serviceId: string) => string | undefined;
}

/** pcmk_pe.c's ocf_reasons, spelling and all: clients match on them. */
const OCF_REASONS: readonly string[] = [
  'OK',
  'unknown error',
  'invalid paramter',
  'unimplemented feature',
  'insufficient privliges',
  'not installed',
  'not configured',
  'not running',
  'already running on the master',
  'failed on the master',
];

export function ocfReason(rc: number): string {
  return OCF_REASONS[rc] ?? 'Unknown Error';
}

type Values = Readonly<Record<string, unknown>>;
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** What the dped would have raised for one of our events: none, one or two. */
export function originalEvents(event: LoggedEvent, ctx: OriginalContext): BusEvent[] {
  const v = event.values;
  const raise = (name: string, values: Record<string, string>): BusEvent => ({
    name,
    timestamp: event.time,
    severity: 'notice',
    values: { deployable: ctx.uuid, ...values },
  });
  const assembly = (state: string, reason: string): BusEvent =>
    raise('assembly_state_change', { assembly: str(v.assembly), state, reason });
  switch (event.kind) {
    case 'deployable_state_change':
      // The dped said only whether everything ran, and when that changed.
      if (v.state === 'running' && v.previous !== 'running')
        return [
          raise('deployable_state_change', { state: 'running', reason: 'all assemblies active' }),
        ];
      if (v.previous === 'running' && v.state !== 'running')
        return [
          raise('deployable_state_change', {
            state: 'recovering',
            reason: 'change in assembly state',
          }),
        ];
      return [];
    case 'assembly_state_change':
      // Online or offline; a late beat (suspect) was not a state of its own.
      if (v.state === 'up' && v.previous !== 'up' && v.previous !== 'suspect')
        return [assembly('running', 'All good')];
      if (v.state === 'down' && v.previous !== 'down') return [assembly('failed', 'Not reachable')];
      return [];
    case 'service_state_change':
      return serviceEvent(v, ctx).map((values) =>
        raise('service_state_change', { assembly: str(v.assembly), ...values }),
      );
    case 'action_started':
      if (v.type !== 'escalate') return [];
      if (v.level === 'deployable')
        return [
          assembly('failed', 'escalating assembly failure'),
          raise('deployable_state_change', {
            state: 'failed',
            reason: 'assembly failure escalated to deployable',
          }),
        ];
      return [assembly('failed', 'escalating service failure')];
    default:
      return [];
  }
}

/** Our reasons say which operation saw it: "start on web1: rc 0 (ok)", "monitor on …". */
function serviceEvent(v: Values, ctx: OriginalContext): Record<string, string>[] {
  const service = ctx.typeOf(str(v.service)) ?? str(v.service);
  const reason = str(v.reason);
  const op = /^(\w+) on \S+: (?:rc (-?\d+))?/.exec(reason);
  const what = op?.[1];
  const rc = op?.[2] === undefined ? undefined : Number(op[2]);
  switch (v.state) {
    case 'running':
      return [
        {
          service,
          state: 'running',
          reason: what === 'start' || what === 'restart' ? 'Started OK' : 'Already running',
        },
      ];
    case 'failed':
      return [
        {
          service,
          state: 'failed',
          reason: what === 'monitor' || what === undefined ? 'monitor failed' : ocfReason(rc ?? 1),
        },
      ];
    case 'stopped':
      // Found not running where nothing was known yet; a stop the dped made raised nothing.
      return v.previous === null || v.previous === undefined || v.previous === 'unknown'
        ? [{ service, state: 'stopped', reason: 'Not yet running' }]
        : [];
    default:
      return [];
  }
}

/** A context is taken as current this long: a burst of events reads the store once (etcd, in a cluster). */
const FRESH_MS = 2000;

/** The deployable's uuid and service types, read once per stored config. */
class Contexts {
  readonly #byName = new Map<string, { hash: string; ctx: OriginalContext; at: number }>();

  constructor(private readonly store: DeployableStore) {}

  async get(name: string, now = Date.now()): Promise<OriginalContext | null> {
    const fresh = this.#byName.get(name);
    if (fresh && now - fresh.at < FRESH_MS) return fresh.ctx;
    const r = await this.store.get(name);
    if (!r) {
      this.#byName.delete(name);
      return null;
    }
    const cached = this.#byName.get(name);
    if (cached?.hash === r.configHash) {
      cached.at = now;
      return cached.ctx;
    }
    const parsed = await parseDeployableConfig(r.config, { trusted: true });
    const services: ReadonlyMap<string, ServiceConfig> = parsed.ok
      ? indexConfig(parsed.config).services
      : new Map();
    const ctx: OriginalContext = { uuid: r.uuid, typeOf: (id) => services.get(id)?.type };
    this.#byName.set(name, { hash: r.configHash, ctx, at: now });
    return ctx;
  }
}

/** Publishes the original's events on `cpe.events.original`, in the order ours were stored. */
export function originalPublisher(bus: Bus, store: DeployableStore, log: Logger): EventPublisher {
  const contexts = new Contexts(store);
  let queue = Promise.resolve();
  const translate = async (events: readonly LoggedEvent[]): Promise<void> => {
    const out: BusEvent[] = [];
    for (const e of events) {
      if (e.deployable === null || e.source === 'cpe') continue;
      const ctx = await contexts.get(e.deployable);
      if (ctx) out.push(...originalEvents(e, ctx));
    }
    publishEvents(bus, ORIGINAL_EVENTS, out, ORIGINAL_PACKAGE);
  };
  return {
    name: 'original',
    publish: (events) => {
      queue = queue.then(() =>
        translate(events).catch((err: unknown) =>
          log.warn("the original's events could not be published", {
            error: errorMessage(err),
          }),
        ),
      );
    },
    close: () => queue,
  };
}
