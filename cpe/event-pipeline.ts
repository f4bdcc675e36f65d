/**
 * Events, collect → process → publish (as snap's pipeline does): collected
 * from the CPE itself and from DPEs (events_submit), processed into log
 * entries (an id is required; a resent id is a duplicate), stored, and then
 * handed to the publishers: the AMQP topic, the daemon's log, a webhook,
 * and live followers (SSE, follow queries). The store comes first and is the
 * only one that can refuse: what is acknowledged is on disk; a publisher
 * that fails loses nothing stored.
 *
 * Group commit: what is submitted in one turn of the event loop is stored in
 * one transaction, so one fsync, at the end of that turn. A host starting a
 * hundred DPEs sends hundreds of events a second, and an fsync each blocked
 * the CPE for milliseconds apiece.
 */
import { CPE_EVENTS } from '../lib/addresses.js';
import type { Bus } from '../lib/bus/bus.js';
import { publishEvents } from '../lib/bus/events.js';
import type { BusEvent } from '../lib/bus/qmf.js';
import { errorMessage } from '../lib/errors.js';
import { busEventOf, entryOf, type EventEntry, type LoggedEvent } from '../lib/events/record.js';
import type { Logger, LogLevel } from '../lib/log.js';
import type { EventStore } from './event-log.js';

/** The source of an event another member of a cluster stored first. */
export const REPLICATED = 'cluster';

export interface EventPublisher {
  readonly name: string;
  /** Events just stored, in order. Must not throw: a publisher's troubles are its own. */
  publish(events: readonly LoggedEvent[]): void;
  close?(): Promise<void> | void;
}

export interface SubmitResult {
  /** Stored now. */
  readonly accepted: number;
  /** Already stored (a resend). */
  readonly duplicates: number;
  /** Not events the log can keep (no id), with why. */
  readonly refused: string[];
}

interface Submission {
  readonly entries: readonly EventEntry[];
  readonly refused: string[];
  resolve(result: SubmitResult): void;
  reject(err: unknown): void;
}

export class EventPipeline {
  readonly #followers = new Set<(events: readonly LoggedEvent[]) => void>();
  #pending: Submission[] = [];
  #closed = false;

  constructor(
    readonly store: EventStore,
    private readonly publishers: readonly EventPublisher[],
    private readonly log: Logger,
  ) {}

  /**
   * Stores what is new, then publishes it; resolves once it is on disk, with
   * the events of the same turn. Rejects only when the store fails (nothing
   * acknowledged).
   */
  submit(events: readonly BusEvent[], source: string): Promise<SubmitResult> {
    const entries: EventEntry[] = [];
    const refused: string[] = [];
    for (const e of events) {
      const entry = entryOf(e, source);
      if (entry) entries.push(entry);
      else refused.push(`${e.name}: no id`);
    }
    return new Promise((resolve, reject) => {
      this.#pending.push({ entries, refused, resolve, reject });
      if (this.#pending.length === 1) setImmediate(() => this.#flush());
    });
  }

  /** Stores every pending submission in one transaction, then answers each. */
  #flush(): void {
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    let stored: LoggedEvent[];
    try {
      stored = this.store.append(batch.flatMap((b) => b.entries));
    } catch (err) {
      for (const b of batch) b.reject(err);
      return;
    }
    if (stored.length > 0) this.#publish(stored);
    // An id stored now counts for the first submission that carried it; a later one is a resend.
    const fresh = new Set(stored.map((e) => e.id));
    for (const b of batch) {
      let accepted = 0;
      for (const e of b.entries) if (fresh.delete(e.id)) accepted += 1;
      b.resolve({ accepted, duplicates: b.entries.length - accepted, refused: b.refused });
    }
  }

  /**
   * What another CPE of a cluster stored and published (the topic): kept
   * here too, so that any member answers queries for every deployable.
   * Not published again; live followers see it.
   */
  replicate(events: readonly BusEvent[]): void {
    const entries = events.flatMap((e) => entryOf(e, REPLICATED) ?? []);
    const stored = this.store.append(entries);
    if (stored.length > 0) for (const f of this.#followers) f(stored);
  }

  #publish(stored: readonly LoggedEvent[]): void {
    for (const p of this.publishers) {
      try {
        p.publish(stored);
      } catch (err) {
        this.log.warn('an event publisher failed', { publisher: p.name, error: errorMessage(err) });
      }
    }
    for (const f of this.#followers) f(stored);
  }

  /**
   * Calls back with every batch stored from now on, until the returned
   * function is called; and once with none when the pipeline closes.
   */
  follow(listener: (events: readonly LoggedEvent[]) => void): () => void {
    if (this.#closed) {
      listener([]);
      return () => undefined;
    }
    this.#followers.add(listener);
    return () => this.#followers.delete(listener);
  }

  get closed(): boolean {
    return this.#closed;
  }

  async close(): Promise<void> {
    this.#flush();
    this.#closed = true;
    for (const f of [...this.#followers]) f([]);
    this.#followers.clear();
    for (const p of this.publishers) await p.close?.();
  }
}

/** The AMQP topic `cpe.events`, for cloud management software (pre-settled, as before). */
export function topicPublisher(bus: Bus): EventPublisher {
  return {
    name: 'topic',
    publish: (events) => void publishEvents(bus, CPE_EVENTS, events.map(busEventOf)),
  };
}

const LEVEL: Readonly<Record<string, LogLevel>> = {
  emerg: 'error',
  alert: 'error',
  crit: 'error',
  error: 'error',
  warn: 'warn',
  notice: 'info',
  info: 'info',
  debug: 'debug',
};

/** The daemon's log (journald, under systemd): one line per event at its severity's priority. */
export function logPublisher(log: Logger): EventPublisher {
  return {
    name: 'log',
    publish: (events) => {
      for (const e of events)
        log[LEVEL[e.severity] ?? 'info'](e.text, {
          event: e.kind,
          event_id: e.id,
          severity: e.severity,
          // Absent, not null, where an event is not about one.
          deployable: e.deployable ?? undefined,
          assembly: e.assembly ?? undefined,
          service: e.service ?? undefined,
        });
    },
  };
}
