/**
 * The webhook publisher: stored events POSTed as JSON (`{"events": [...]}`,
 * each as the query API answers it) to one URL, in order, in batches. A
 * failed POST (network, timeout, 5xx, 408, 429) is retried with a doubling
 * backoff; a refusal (other 4xx) is logged and the batch dropped. The queue
 * is bounded: past it the oldest events are dropped, counted and logged.
 * The event log keeps them all; the webhook is a convenience.
 */
import { errorMessage } from '../lib/errors.js';
import type { LoggedEvent } from '../lib/events/record.js';
import type { Logger } from '../lib/log.js';
import type { EventPublisher } from './event-pipeline.js';

export interface WebhookOptions {
  readonly url: string;
  /** Sent as `Authorization: Bearer TOKEN` when set. */
  readonly token?: string;
  /** Events waiting at most; past it the oldest are dropped. */
  readonly maxQueue: number;
  readonly batch?: number;
  readonly timeoutMs?: number;
  readonly backoffMs?: { readonly first: number; readonly max: number };
  readonly log: Logger;
}

export interface WebhookStats {
  readonly queued: number;
  readonly sent: number;
  readonly dropped: number;
  readonly failures: number;
}

export class WebhookPublisher implements EventPublisher {
  readonly name = 'webhook';
  readonly #o: WebhookOptions;
  #queue: LoggedEvent[] = [];
  #sent = 0;
  #dropped = 0;
  #droppedUnlogged = 0;
  #failures = 0;
  #busy = false;
  #closed = false;
  #retry: NodeJS.Timeout | undefined;
  #backoff: number;
  #idle: (() => void)[] = [];

  constructor(o: WebhookOptions) {
    this.#o = o;
    this.#backoff = o.backoffMs?.first ?? 1000;
  }

  stats(): WebhookStats {
    return {
      queued: this.#queue.length,
      sent: this.#sent,
      dropped: this.#dropped,
      failures: this.#failures,
    };
  }

  publish(events: readonly LoggedEvent[]): void {
    if (this.#closed) return;
    this.#queue.push(...events);
    const over = this.#queue.length - this.#o.maxQueue;
    if (over > 0) {
      this.#queue.splice(0, over);
      this.#dropped += over;
      // One line per episode, not one per event: logged when sending resumes or at close.
      if (this.#droppedUnlogged === 0)
        this.#o.log.warn('webhook queue full: dropping the oldest events', {
          url: this.#o.url,
          max_queue: this.#o.maxQueue,
        });
      this.#droppedUnlogged += over;
    }
    this.#kick();
  }

  /** Resolves when nothing is queued or in flight (for tests and a clean stop). */
  idle(): Promise<void> {
    if (this.#queue.length === 0 && !this.#busy) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  #kick(): void {
    if (this.#busy || this.#retry || this.#closed) return;
    if (this.#queue.length === 0) {
      for (const r of this.#idle.splice(0)) r();
      return;
    }
    this.#busy = true;
    void this.#send().finally(() => {
      this.#busy = false;
      this.#kick();
    });
  }

  async #send(): Promise<void> {
    const batch = this.#queue.slice(0, this.#o.batch ?? 100);
    const { log, url } = this.#o;
    let retry: string | null = null;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.#o.token ? { authorization: `Bearer ${this.#o.token}` } : {}),
        },
        body: JSON.stringify({ events: batch }),
        signal: AbortSignal.timeout(this.#o.timeoutMs ?? 10_000),
      });
      await res.body?.cancel();
      if (res.ok) {
        this.#sent += batch.length;
      } else if (res.status >= 500 || res.status === 408 || res.status === 429) {
        retry = `HTTP ${res.status}`;
      } else {
        this.#dropped += batch.length;
        log.error('webhook refused events: dropped', {
          url,
          status: res.status,
          count: batch.length,
        });
      }
    } catch (err) {
      retry = errorMessage(err);
    }
    if (retry !== null) {
      this.#failures += 1;
      log.warn('webhook failed; retrying', { url, error: retry, retry_ms: this.#backoff });
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        this.#kick();
      }, this.#backoff);
      this.#retry.unref();
      this.#backoff = Math.min(this.#backoff * 2, this.#o.backoffMs?.max ?? 60_000);
      return;
    }
    // The batch is done with (sent or refused); events dropped meanwhile were the oldest, not these.
    const done = new Set(batch);
    this.#queue = this.#queue.filter((e) => !done.has(e));
    this.#backoff = this.#o.backoffMs?.first ?? 1000;
    this.#logDropped();
  }

  #logDropped(): void {
    if (this.#droppedUnlogged === 0) return;
    this.#o.log.warn('webhook dropped events while its queue was full', {
      url: this.#o.url,
      dropped: this.#droppedUnlogged,
      dropped_total: this.#dropped,
    });
    this.#droppedUnlogged = 0;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#logDropped();
    for (const r of this.#idle.splice(0)) r();
  }
}
