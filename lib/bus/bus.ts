/**
 * One AMQP 1.0 connection (rhea) for a daemon or tool, to the embedded
 * router or a broker. It reconnects by itself with exponential back-off and
 * jitter, and rhea re-attaches every open link afterwards. `state` and
 * `onStateChange` say whether the bus is up — the DPE uses that to tell "I
 * lost the bus" from "the assembly stopped beating".
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import './rhea-decoder.js';
import rhea, {
  type Connection,
  type ConnectionOptions,
  type Delivery,
  type EventContext,
  type Message,
  type Receiver,
  type Sender,
  type Source,
} from 'rhea';
import type { Logger } from '../log.js';
import {
  addressProfile,
  type AddressKind,
  type AddressProfile,
  type ProfileName,
  type Terminus,
} from './addressing.js';
import { BusCode, BusError } from './errors.js';
import { deferredCa } from './extra-ca.js';
import { Fifo } from './fifo.js';
import { exceedsSize } from './size.js';

/**
 * The largest message a peer of ours sends or takes, advertised on every
 * link as max-message-size: the largest config (4 MiB, CONFIG_TOO_LARGE
 * past it) with room for the envelope, so that a config over its own limit
 * reaches the CPE and is refused in its words, not by the transport.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024 + 64 * 1024;
export const MAX_FRAME_BYTES = 256 * 1024;

export interface TlsOptions {
  /** PEM files. */
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly servername?: string;
  /** Default true: refuse a server whose certificate does not verify. */
  readonly rejectUnauthorized?: boolean;
}

export interface BusOptions {
  /** amqp://host:port or amqps://host:port (user and password may be given in the URL). */
  readonly url: string;
  readonly profile: ProfileName;
  /** Names this peer: container id `NAME-<random>`, shown by brokers. */
  readonly name: string;
  readonly logger: Logger;
  readonly username?: string;
  readonly password?: string;
  readonly tls?: TlsOptions;
  readonly maxMessageBytes?: number;
  readonly reconnect?: { readonly initialMs?: number; readonly maxMs?: number };
  /** AMQP idle time-out: a silent peer is dropped after twice this. Default 10 s. */
  readonly idleTimeoutMs?: number;
}

export type BusState = 'connecting' | 'up' | 'down' | 'closed';
export type StateListener = (state: BusState, since: number) => void;

/** Exponential back-off with jitter, restarting after each successful connection (rhea's contract). */
export function jitteredBackoff(
  initialMs: number,
  maxMs: number,
  random: () => number = Math.random,
) {
  let ceiling = initialMs;
  let lastSuccesses: number | undefined;
  return (successes: number): number => {
    if (successes !== lastSuccesses) {
      ceiling = initialMs;
      lastSuccesses = successes;
    }
    const delay = ceiling / 2 + random() * (ceiling / 2);
    ceiling = Math.min(maxMs, ceiling * 2);
    return Math.round(delay);
  };
}

export interface ReceiveOptions {
  /** Credit kept open: how many messages may be in flight to this receiver. */
  readonly credit?: number;
  /** Called instead of the handler for a message over the size limit (it has been rejected). */
  readonly onOversize?: (message: Message) => void;
}

export interface Subscription {
  close(): void;
  /** Resolves once the broker or router has attached the link. */
  readonly ready: Promise<void>;
  /** The address the link receives from (the source the peer assigned, for dynamic links). */
  readonly address: () => string;
}

/** Messages held per sender while the link has no credit or the session no room. */
export const MAX_HELD_PER_SENDER = 100_000;

interface Held {
  readonly message: Message;
  readonly onSent?: (delivery: Delivery) => void;
}

export class Bus {
  readonly profile: AddressProfile;
  readonly maxMessageBytes: number;
  readonly id: string;
  /** Who this peer is on the bus: the AMQP user-id its messages carry (checked by the router). */
  readonly user: string | undefined;
  readonly #userId: Buffer | undefined;
  readonly #connection: Connection;
  readonly #log: Logger;
  readonly #senders = new Map<string, Sender>();
  readonly #listeners = new Set<StateListener>();
  /** Waiters told of a connection attempt that failed (whenUp with failFast). */
  readonly #failures = new Set<(why: string) => void>();
  readonly #held = new Map<Sender, Fifo<Held>>();
  #dropped = 0;
  #state: BusState = 'connecting';
  #since = Date.now();

  constructor(options: BusOptions) {
    this.profile = addressProfile(options.profile);
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.#log = options.logger.child({ bus: redactUrl(options.url) });
    const problem = busUrlProblem(options.url);
    if (problem) throw new BusError('BAD_URL', problem);
    const url = new URL(options.url);
    const container = rhea.create_container({
      id: `${options.name}-${rhea.generate_uuid().slice(0, 8)}`,
    });
    this.id = container.id;
    // Without listeners rhea throws these from inside its socket handler.
    // rhea passes the error itself here (a read or write that threw), not a context.
    container.on('error', (err: unknown) =>
      this.#log.warn('bus error', {
        error: describe(err instanceof Error ? err : (err as EventContext | undefined)?.error),
      }),
    );
    container.on('protocol_error', (ctx: EventContext) =>
      this.#log.warn('bus protocol error', { error: describe(ctx.error) }),
    );
    const tls = options.tls ?? {};
    const secure = url.protocol === 'amqps:';
    this.user = options.username ?? (url.username ? decodeURIComponent(url.username) : undefined);
    this.#userId = this.user ? Buffer.from(this.user) : undefined;
    const common = {
      host: url.hostname,
      port: Number(url.port || (secure ? 5671 : 5672)),
      username: this.user,
      password: options.password ?? (url.password ? decodeURIComponent(url.password) : undefined),
      // rhea accepts a delay function here (see its set_reconnect); its typings do not say so.
      reconnect: jitteredBackoff(
        options.reconnect?.initialMs ?? 100,
        options.reconnect?.maxMs ?? 10_000,
      ) as unknown as boolean,
      idle_time_out: options.idleTimeoutMs ?? 10_000,
      max_frame_size: MAX_FRAME_BYTES,
      // rhea sets it only when a receiver opens; a sender-only connection would wait on Nagle.
      tcp_no_delay: true,
    };
    const connectOptions: ConnectionOptions = secure
      ? {
          ...common,
          transport: 'tls',
          ca: tls.caFile ? readFileSync(tls.caFile) : deferredCa(this.#log),
          cert: tls.certFile ? readFileSync(tls.certFile) : undefined,
          key: tls.keyFile ? readFileSync(tls.keyFile) : undefined,
          // SNI carries host names only (rhea would send the IP): '' sends none, and the
          // certificate is still checked against the host's IP SANs.
          servername: tls.servername ?? (isIP(url.hostname) ? '' : url.hostname),
          rejectUnauthorized: tls.rejectUnauthorized ?? true,
        }
      : { ...common, transport: 'tcp' };
    this.#connection = container.connect(connectOptions);
    this.#connection.on('connection_open', () => this.#setState('up'));
    this.#connection.on('disconnected', (ctx: EventContext) => {
      if (this.#state === 'closed') return;
      const error = (ctx as EventContext & { error?: unknown }).error;
      if (this.#state === 'up')
        this.#log.warn('bus connection lost; reconnecting', { error: describe(error) });
      else {
        this.#log.debug('bus connection attempt failed', { error: describe(error) });
        this.#attemptFailed(describe(error));
      }
      this.#setState('down');
    });
    this.#connection.on('connection_error', (ctx: EventContext) => {
      // A failed SASL login is in the context's error (the connection's is the peer's close).
      const why = describe(ctx.error ?? ctx.connection.error);
      this.#log.error('bus refused the connection', { error: why });
      this.#attemptFailed(`refused: ${why}`);
    });
    this.#connection.on('connection_close', () => {
      if (this.#state !== 'closed') this.#setState('down');
    });
  }

  get state(): BusState {
    return this.#state;
  }

  /** When the state last changed. */
  get since(): number {
    return this.#since;
  }

  get isUp(): boolean {
    return this.#state === 'up';
  }

  onStateChange(listener: StateListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #setState(state: BusState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#since = Date.now();
    if (state === 'up') this.#log.info('bus connected');
    for (const listener of [...this.#listeners]) listener(state, this.#since);
  }

  #attemptFailed(why: string): void {
    for (const l of [...this.#failures]) l(why);
  }

  /**
   * Resolves when the bus is up; fails with BUS_DOWN after `timeoutMs`,
   * BUS_CLOSED if closed — or, with `failFast`, with BUS_UNREACHABLE at the
   * first attempt that fails (refused, no such host, authentication): a
   * command line has no reason to wait for a daemon's reconnects.
   */
  whenUp(timeoutMs: number, { failFast = false } = {}): Promise<void> {
    if (this.#state === 'up') return Promise.resolve();
    if (this.#state === 'closed')
      return Promise.reject(new BusError(BusCode.closed, 'the bus connection is closed'));
    return new Promise((resolve, reject) => {
      const onFailure = (why: string): void => {
        clearTimeout(timer);
        stop();
        this.#failures.delete(onFailure);
        reject(new BusError(BusCode.unreachable, why));
      };
      if (failFast) this.#failures.add(onFailure);
      const timer = setTimeout(() => {
        stop();
        this.#failures.delete(onFailure);
        reject(new BusError(BusCode.busDown, `the bus is not connected (waited ${timeoutMs} ms)`));
      }, timeoutMs);
      const stop = this.onStateChange((state) => {
        if (state === 'up' || state === 'closed') this.#failures.delete(onFailure);
        if (state === 'up') {
          clearTimeout(timer);
          stop();
          resolve();
        } else if (state === 'closed') {
          clearTimeout(timer);
          stop();
          reject(new BusError(BusCode.closed, 'the bus connection is closed'));
        }
      });
    });
  }

  /**
   * Marks a message as this peer's (the AMQP user-id property):
   * the embedded router refuses a DPE's or an agent's message without it, or
   * with another's.
   */
  sign<M extends Message>(message: M): M {
    // Binary on the wire (rhea types it as a string).
    if (this.#userId) message.user_id = this.#userId as unknown as string;
    return message;
  }

  /** A sender to a logical address, opened once and kept (rhea re-attaches it after a reconnect). */
  sender(kind: AddressKind, name: string, settled = false): Sender {
    return this.senderTo(this.profile.target(kind, name), settled);
  }

  /** A sender to a physical address, such as a reply-to. */
  senderTo(target: { address: string; capabilities?: readonly string[] }, settled = false): Sender {
    const key = `${settled ? 's' : 'u'} ${target.address}`;
    let sender = this.#senders.get(key);
    if (!sender || sender.is_closed()) {
      sender = this.#connection.open_sender({
        target: {
          address: target.address,
          ...(target.capabilities ? { capabilities: [...target.capabilities] } : {}),
        },
        snd_settle_mode: settled ? 1 : 0,
        autosettle: true,
        max_message_size: this.maxMessageBytes,
      });
      sender.on('sender_error', (ctx: EventContext) =>
        this.#log.warn('sender refused', {
          address: target.address,
          error: describe(ctx.sender?.error),
        }),
      );
      this.#senders.set(key, sender);
    }
    return sender;
  }

  /**
   * Sends when the link has credit and the session room (rhea throws once
   * 2,048 deliveries wait in a session): otherwise holds the message, in
   * order, and sends it when the sender becomes sendable. Past
   * MAX_HELD_PER_SENDER the oldest held messages are dropped, counted and
   * logged. `onSent` gets the delivery once it is sent.
   */
  post(sender: Sender, message: Message, onSent?: (delivery: Delivery) => void): void {
    this.sign(message);
    let held = this.#held.get(sender);
    if (!held && sender.sendable()) {
      const delivery = sender.send(message);
      onSent?.(delivery);
      return;
    }
    if (!held) {
      held = new Fifo<Held>();
      this.#held.set(sender, held);
      const queue = held;
      const flush = (): void => {
        while (queue.length > 0 && sender.sendable()) {
          const next = queue.shift()!;
          const delivery = sender.send(next.message);
          next.onSent?.(delivery);
        }
        if (queue.length === 0) {
          sender.removeListener('sendable', flush);
          this.#held.delete(sender);
        }
      };
      sender.on('sendable', flush);
    }
    held.push({ message, ...(onSent ? { onSent } : {}) });
    if (held.length > MAX_HELD_PER_SENDER) {
      held.shift();
      if (this.#dropped++ % 10_000 === 0)
        this.#log.warn('messages dropped: a sender had no credit for too long', {
          address: sender.target?.address ?? '',
          dropped: this.#dropped,
        });
    }
  }

  /** Forgets a cached sender (replies to a client that went away). */
  closeSender(address: string): void {
    for (const key of [`s ${address}`, `u ${address}`]) {
      const sender = this.#senders.get(key);
      if (sender) this.#held.delete(sender);
      sender?.close();
      this.#senders.delete(key);
    }
  }

  /**
   * Receives from a logical address (or, with `dynamic`, from an address the
   * peer assigns). Messages over the size limit are rejected, never handed on.
   */
  receive(
    source: { kind: AddressKind; name: string } | { dynamic: true },
    handler: (message: Message, ctx: EventContext) => void,
    options: ReceiveOptions = {},
  ): Subscription {
    // A dynamic source has no address: the peer assigns one (rhea's typings insist on one).
    const terminus =
      'dynamic' in source
        ? ({ dynamic: true } as unknown as Source)
        : toTerminus(this.profile.source(source.kind, source.name));
    const receiver: Receiver = this.#connection.open_receiver({
      source: terminus,
      credit_window: options.credit ?? 500,
      autoaccept: false,
      max_message_size: this.maxMessageBytes,
    });
    let attached!: () => void;
    const ready = new Promise<void>((resolve) => (attached = resolve));
    receiver.on('receiver_open', () => attached());
    receiver.on('receiver_error', (ctx: EventContext) =>
      this.#log.warn('receiver refused', {
        source: JSON.stringify(terminus),
        error: describe(ctx.receiver?.error),
      }),
    );
    receiver.on('message', (ctx: EventContext) => {
      const message = ctx.message!;
      if (
        exceedsSize(message.body, this.maxMessageBytes) ||
        exceedsSize(message.application_properties, 64 * 1024)
      ) {
        ctx.delivery?.reject({
          condition: 'amqp:link:message-size-exceeded',
          description: `message over ${this.maxMessageBytes} bytes`,
        });
        this.#log.warn('rejected an oversized message', { source: receiver.source?.address ?? '' });
        options.onOversize?.(message);
        return;
      }
      ctx.delivery?.accept();
      try {
        handler(message, ctx);
      } catch (err) {
        // A handler bug must not take the connection (and every other link) down.
        this.#log.error('message handler failed', { error: describe(err) });
      }
    });
    return {
      close: () => receiver.close(),
      ready,
      address: () => receiver.source?.address ?? '',
    };
  }

  close(): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve();
    this.#setState('closed');
    // Untyped in rhea: without it, the forced close below would be reconnected.
    (this.#connection as unknown as { set_reconnect(on: boolean): void }).set_reconnect(false);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      // A peer that never answers the close must not hold up shutdown.
      const timer = setTimeout(() => {
        socketOf(this.#connection)?.destroy();
        resolve();
      }, 2000);
      this.#connection.once('connection_close', done);
      this.#connection.once('disconnected', done);
      if (this.#connection.is_open()) this.#connection.close();
      else {
        this.#connection.close();
        socketOf(this.#connection)?.destroy();
        done();
      }
    });
  }
}

function toTerminus(t: Terminus): {
  address: string;
  capabilities?: string[];
  distribution_mode?: 'move';
} {
  return {
    address: t.address,
    ...(t.capabilities ? { capabilities: [...t.capabilities] } : {}),
    ...(t.distributionMode ? { distribution_mode: t.distributionMode } : {}),
  };
}

/** rhea keeps the socket on the connection without typing it. */
function socketOf(connection: Connection): { destroy(): void } | undefined {
  return (connection as unknown as { socket?: { destroy(): void } }).socket;
}

/** A bus URL fit for a log line: the user and password taken out. */
/** A host on this machine's loopback: 127.0.0.0/8, ::1 or localhost (the router's and the HTTP API's rule). */
export function isLoopback(host: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(host);
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//');
}

/** What is wrong with a bus URL, for people; undefined when it is one. */
export function busUrlProblem(text: string): string | undefined {
  const form = 'give amqp://[USER:PASSWORD@]HOST[:PORT] or amqps://…';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `"${text}" is not a bus URL: ${form}`;
  }
  if (url.protocol !== 'amqp:' && url.protocol !== 'amqps:')
    return `bus URL must be amqp:// or amqps://, not ${url.protocol}//: ${form}`;
  if (!url.hostname) return `bus URL ${redactUrl(text)} names no host: ${form}`;
  return undefined;
}

/** A readable line for an Error or an AMQP error ({condition, description}). */
export function describe(error: unknown): string {
  if (error === undefined || error === null) return '';
  if (error instanceof Error) return error.message;
  if (typeof error === 'object') {
    const e = error as { condition?: unknown; description?: unknown };
    if (typeof e.condition === 'string') {
      return typeof e.description === 'string' && e.description
        ? `${e.condition}: ${e.description}`
        : e.condition;
    }
    return JSON.stringify(error);
  }
  return typeof error === 'string' ? error : JSON.stringify(error);
}
