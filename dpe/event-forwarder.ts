/**
 * Delivers the DPE's events to the CPE's event log at least once: each goes
 * into the outbox first, then to the CPE's `events_submit` in order, in
 * batches; the outbox lets go of a batch only when the CPE has answered (it
 * stores before it answers). A CPE that is away gets the backlog when it
 * returns; a DPE killed meanwhile sends it after its restart. The CPE
 * publishes what it stored on the `cpe.events` topic.
 */
import { CPE_NODE, CPE_OBJECT, dpeAgentName } from '../lib/addresses.js';
import type { Bus } from '../lib/bus/bus.js';
import type { MethodClient } from '../lib/bus/client.js';
import { eventBody, type BusEvent } from '../lib/bus/qmf.js';
import { errorMessage } from '../lib/errors.js';
import type { Outbox } from '../lib/events/outbox.js';
import type { Logger } from '../lib/log.js';

export interface ForwarderOptions {
  readonly deployable: string;
  readonly outbox: Outbox;
  readonly client: MethodClient;
  readonly bus: Bus;
  readonly log: Logger;
  /** Events per call. */
  readonly batch?: number;
  readonly callTimeoutMs?: number;
}

const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 10_000;

export class EventForwarder {
  readonly #o: ForwarderOptions;
  #sending = false;
  #retry: NodeJS.Timeout | undefined;
  #retryMs = FIRST_RETRY_MS;
  #failing = false;
  #closed = false;
  #unwatch: (() => void) | undefined;
  #drained: (() => void)[] = [];

  constructor(o: ForwarderOptions) {
    this.#o = o;
  }

  get pending(): number {
    return this.#o.outbox.size;
  }

  start(): void {
    this.#unwatch = this.#o.bus.onStateChange((state) => {
      if (state === 'up') this.#now();
    });
    this.#kick();
  }

  add(event: BusEvent): void {
    this.#o.outbox.add(event);
    this.#kick();
  }

  /** Resolves when the outbox is empty, or after `ms` (SIGTERM gives the backlog a moment). */
  drain(ms: number): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    this.#now();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#drained.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#unwatch?.();
    for (const r of this.#drained.splice(0)) r();
    this.#o.outbox.close();
  }

  /** Retry at once (the bus came back). */
  #now(): void {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#retryMs = FIRST_RETRY_MS;
    this.#kick();
  }

  #kick(): void {
    if (this.#sending || this.#retry || this.#closed) return;
    if (this.pending === 0) {
      for (const r of this.#drained.splice(0)) r();
      return;
    }
    if (!this.#o.bus.isUp) return; // the bus's return kicks again
    this.#sending = true;
    void this.#send().finally(() => {
      this.#sending = false;
      this.#kick();
    });
  }

  async #send(): Promise<void> {
    const { outbox, client, log } = this.#o;
    const batch = outbox.peek(this.#o.batch ?? 200);
    try {
      const r = await client.call(
        { address: CPE_NODE, object: CPE_OBJECT },
        'events_submit',
        { source: dpeAgentName(this.#o.deployable), events: batch.map((e) => eventBody(e)) },
        this.#o.callTimeoutMs ?? 10_000,
      );
      if (this.#closed) return;
      outbox.ack(batch.length);
      if (Array.isArray(r.refused) && r.refused.length > 0)
        log.error('the CPE refused events', { refused: r.refused.map(String).join('; ') });
      if (this.#failing) log.info('events reach the CPE again', { pending: outbox.size });
      this.#failing = false;
      this.#retryMs = FIRST_RETRY_MS;
    } catch (err) {
      if (this.#closed) return;
      if (!this.#failing)
        log.warn('events cannot reach the CPE yet; they wait in the outbox', {
          error: errorMessage(err),
          pending: outbox.size,
        });
      this.#failing = true;
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        this.#kick();
      }, this.#retryMs);
      this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS);
    }
  }
}
