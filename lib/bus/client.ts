/**
 * Calling methods on remote objects, QMF-style: a request to the object's
 * node address with `reply_to` and a `correlation_id`, one reply per call.
 *
 * A call ends in exactly one of: the reply's arguments; a RemoteError with
 * the server's code; CALL_TIMEOUT; NO_ROUTE (the router knows nobody serves
 * that address — at once, not after the time-out); BUS_DOWN (the connection
 * dropped before the reply: whether the call ran is unknown); TOO_MANY_CALLS.
 * After a reconnect the client takes a fresh reply address, so a late
 * reply to a call that already failed can never be taken for another's.
 */
import rhea, { type Delivery, type EventContext, type Message } from 'rhea';
import type { Logger } from '../log.js';
import type { Bus, Subscription } from './bus.js';
import { BusCode, BusError, RemoteError } from './errors.js';
import { Malformed, parseReply, requestMessage, type QmfMap } from './qmf.js';
import { exceedsSize } from './size.js';

export interface MethodClientOptions {
  /** Names the client in its reply address: reply.NAME.<random>. */
  readonly name: string;
  readonly logger: Logger;
  readonly defaultTimeoutMs?: number;
  readonly maxInFlight?: number;
}

export interface CallTarget {
  /** The logical node address the object is served on, e.g. "cpe". */
  readonly address: string;
  /** The QMF object name, e.g. "cpe". */
  readonly object: string;
}

interface Pending {
  readonly method: string;
  readonly resolve: (args: QmfMap) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class MethodClient {
  readonly #bus: Bus;
  readonly #log: Logger;
  readonly #name: string;
  readonly #timeoutMs: number;
  readonly #maxInFlight: number;
  readonly #pending = new Map<string, Pending>();
  readonly #byDelivery = new WeakMap<Delivery, string>();
  readonly #stopWatching: () => void;
  #reply!: Subscription;
  #replyTo!: string;
  #wasDown = false;
  #calls = 0;
  #closed = false;

  constructor(bus: Bus, options: MethodClientOptions) {
    this.#bus = bus;
    this.#log = options.logger;
    this.#name = options.name;
    this.#timeoutMs = options.defaultTimeoutMs ?? 10_000;
    this.#maxInFlight = options.maxInFlight ?? 1000;
    this.#openReplies();
    this.#stopWatching = bus.onStateChange((state) => {
      if (state === 'down' || state === 'closed') {
        this.#wasDown = true;
        this.#failAll(
          state === 'closed'
            ? new BusError(BusCode.closed, 'the bus connection was closed before the reply came')
            : new BusError(
                BusCode.busDown,
                'the bus connection dropped before the reply came; the call may or may not have run',
              ),
        );
      } else if (state === 'up' && this.#wasDown) {
        this.#wasDown = false;
        // rhea is re-attaching the old reply link right now; detaching it before
        // that attach goes out is a protocol error. Retire it once the new one is up.
        const old = this.#reply;
        this.#openReplies();
        void this.#reply.ready.then(() => old.close());
      }
    });
  }

  /** Calls not yet answered, including those waiting for the bus. */
  get inFlight(): number {
    return this.#calls;
  }

  #openReplies(): void {
    const name = `reply.${this.#name}.${rhea.generate_uuid().slice(0, 12)}`;
    this.#replyTo = this.#bus.profile.target('node', name).address;
    this.#reply = this.#bus.receive({ kind: 'node', name }, (message) => this.#onReply(message), {
      credit: 1000,
    });
  }

  async call(
    target: CallTarget,
    method: string,
    args: QmfMap = {},
    timeoutMs = this.#timeoutMs,
  ): Promise<QmfMap> {
    if (this.#closed) throw new BusError(BusCode.closed, 'the method client is closed');
    if (this.#calls >= this.#maxInFlight) {
      throw new BusError(
        BusCode.tooManyCalls,
        `${this.#calls} calls already in flight (the limit is ${this.#maxInFlight})`,
      );
    }
    if (exceedsSize(args, this.#bus.maxMessageBytes)) {
      throw new BusError(
        BusCode.messageTooLarge,
        `${method}: arguments over ${this.#bus.maxMessageBytes} bytes`,
      );
    }
    // Counted from here, not from the send: calls waiting for the bus are in flight too.
    this.#calls += 1;
    try {
      return await this.#send(target, method, args, timeoutMs);
    } finally {
      this.#calls -= 1;
    }
  }

  async #send(
    target: CallTarget,
    method: string,
    args: QmfMap,
    timeoutMs: number,
  ): Promise<QmfMap> {
    const deadline = Date.now() + timeoutMs;
    await this.#bus.whenUp(timeoutMs);
    await withTimeout(
      this.#reply.ready,
      Math.max(0, deadline - Date.now()),
      () => new BusError(BusCode.callTimeout, `${method}: no reply address within ${timeoutMs} ms`),
    );
    const correlationId = rhea.generate_uuid();
    return new Promise<QmfMap>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.#pending.delete(correlationId);
          reject(
            new BusError(
              BusCode.callTimeout,
              `${target.object}.${method}: no reply within ${timeoutMs} ms`,
            ),
          );
        },
        Math.max(1, deadline - Date.now()),
      );
      this.#pending.set(correlationId, { method, resolve, reject, timer });
      const sender = this.#bus.sender('node', target.address);
      this.#watch(sender);
      this.#bus.post(
        sender,
        requestMessage(
          { objectName: target.object, method, args },
          this.#replyTo,
          correlationId,
          timeoutMs,
        ),
        (delivery) => this.#byDelivery.set(delivery, correlationId),
      );
    });
  }

  /** A refused or released request fails its call at once. */
  #watched = new WeakSet<object>();
  #watch(sender: ReturnType<Bus['sender']>): void {
    if (this.#watched.has(sender)) return;
    this.#watched.add(sender);
    const refuse = (ctx: EventContext, why: string): void => {
      const id = ctx.delivery ? this.#byDelivery.get(ctx.delivery) : undefined;
      if (id !== undefined) this.#settle(id, new BusError(BusCode.noRoute, why));
    };
    sender.on('rejected', (ctx: EventContext) => {
      const state = ctx.delivery?.remote_state as { error?: { description?: string } } | undefined;
      refuse(
        ctx,
        state?.error?.description ??
          `${sender.target?.address ?? 'the address'} refused the request`,
      );
    });
    sender.on('released', (ctx: EventContext) =>
      refuse(ctx, `nobody took the request for ${sender.target?.address ?? '?'}`),
    );
  }

  #onReply(message: Message): void {
    const id = typeof message.correlation_id === 'string' ? message.correlation_id : undefined;
    const pending = id === undefined ? undefined : this.#pending.get(id);
    if (!pending || id === undefined) {
      this.#log.debug('reply for no pending call (late, or not ours)', {
        correlation: String(message.correlation_id),
      });
      return;
    }
    const reply = parseReply(message);
    if (reply instanceof Malformed)
      this.#settle(id, new BusError(BusCode.malformed, `${pending.method}: ${reply.reason}`));
    else if (reply.ok) this.#settle(id, reply.args);
    else this.#settle(id, new RemoteError(reply.code, reply.text, pending.method));
  }

  #settle(id: string, outcome: QmfMap | Error): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
  }

  #failAll(error: BusError): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id, error);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopWatching();
    this.#failAll(
      new BusError(BusCode.closed, 'the method client was closed before the reply came'),
    );
    this.#reply.close();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(error()), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
