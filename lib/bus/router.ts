/**
 * The embedded router: the zero-set-up bus for one host. It accepts AMQP 1.0
 * connections (by default on 127.0.0.1) and passes each message to every
 * link receiving from the message's address. It is a router, not a broker:
 * nothing is stored; a message nobody receives is rejected at once (so a
 * call to an absent server fails fast) or, if sent pre-settled, dropped.
 *
 * Supports dynamic receivers (the router names the address), anonymous
 * senders (routing by `to`), SASL PLAIN (users of a credentials file, and
 * users whose password the bus key derives) or ANONYMOUS (loopback only, by
 * default), and TLS. With authorization on, each user may receive and send
 * only where its identity allows (identity.ts), and the AMQP user-id of what
 * it sends must be its own.
 */
import { readFileSync } from 'node:fs';
import net, { type Server, type Socket } from 'node:net';
import tls from 'node:tls';
import './rhea-decoder.js';
import rhea, {
  type Container,
  type Delivery,
  type EventContext,
  type Receiver,
  type Sender,
} from 'rhea';
import type { Logger } from '../log.js';
import { wireMessageId } from './qmf.js';
import { describe, isLoopback, MAX_FRAME_BYTES, DEFAULT_MAX_MESSAGE_BYTES } from './bus.js';
import { type BusKey, Credentials } from './credentials.js';
import { mayReceive, maySend, mustSign, userIdOf } from './identity.js';
import { BusError } from './errors.js';
import { guardFrames } from './frame-guard.js';
import { Fifo } from './fifo.js';
import { exceedsSize } from './size.js';

export const DEFAULT_ROUTER_PORT = 5673;

export interface RouterOptions {
  readonly logger: Logger;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 5673 (5672 is left to a broker on the same host); 0 picks a free port. */
  readonly port?: number;
  /** PLAIN users (see cpectl bus-password); without it or a key, SASL ANONYMOUS. */
  readonly credentialsFile?: string;
  /** PLAIN users whose password the key derives (the CPE's own, its DPEs', cpectl bus-credentials). */
  readonly key?: BusKey;
  /** Each user only where its identity allows (needs PLAIN: a key or a credentials file). */
  readonly authorize?: boolean;
  /** ANONYMOUS on a non-loopback address must be asked for. */
  readonly allowAnonymous?: boolean;
  readonly tls?: {
    readonly certFile: string;
    readonly keyFile: string;
    readonly caFile?: string;
    readonly requestClientCert?: boolean;
  };
  readonly maxMessageBytes?: number;
  /** Messages held for one slow receiving link before the oldest are dropped. */
  readonly queueLimit?: number;
  /** Bytes held for one slow receiving link before the oldest are dropped (default 64 MiB). */
  readonly queueBytes?: number;
}

export interface RouterStats {
  connections: number;
  links: number;
  routed: number;
  delivered: number;
  noRoute: number;
  oversized: number;
  overflowed: number;
  /** Links and messages refused to a user whose identity does not allow them. */
  unauthorized: number;
}

interface Outgoing {
  readonly sender: Sender;
  readonly address: string;
  /** A server's link (distribution-mode move): one of these on an address takes each message. */
  readonly exclusive: boolean;
  /** The peer's AMQP container id: the same across its reconnects. */
  readonly container: string | undefined;
  readonly queue: Fifo<Buffer>;
  /** The bytes in `queue`. */
  bytes: number;
  /** A reply address this link's user owns while it receives from it. */
  readonly claimed: boolean;
}

interface Terminus {
  address?: string;
  dynamic?: boolean;
  distribution_mode?: string;
}

/** The attach frames of a link, which rhea keeps but does not type. */
interface Attach {
  readonly remote: { readonly attach: { readonly source?: Terminus; readonly target?: Terminus } };
  readonly local: { attach: { snd_settle_mode?: number; max_message_size?: number } };
}

function attachOf(link: Sender | Receiver): Attach {
  return link as unknown as Attach;
}

/** The parts of rhea's server side that its typings leave out. */
interface ServerMechanisms {
  enable_plain(verify: (user: string, password: string) => Promise<boolean>): void;
  enable_anonymous(): void;
}

function saslOf(container: Container): ServerMechanisms {
  return (container as unknown as { sasl_server_mechanisms: ServerMechanisms })
    .sasl_server_mechanisms;
}

function serverConnection(
  container: Container,
  options: Record<string, unknown>,
): { accept(socket: Socket): void } {
  return (
    container as unknown as { create_connection(o: object): { accept(socket: Socket): void } }
  ).create_connection(options);
}

/**
 * A pre-settled delivery needs no answer, but rhea frees its slot in the
 * session's incoming buffer only once it is settled here too: without this,
 * a connection stalls after 2,048 pre-settled messages.
 */
function settleLocally(delivery: Delivery): void {
  (delivery as unknown as { update(settled: boolean): void }).update(true);
}

export class EmbeddedRouter {
  readonly #options: RouterOptions;
  readonly #log: Logger;
  readonly #container: Container;
  readonly #routes = new Map<string, Set<Outgoing>>();
  readonly #outgoing = new WeakMap<Sender, Outgoing>();
  /** The peers' sending links the router accepted. */
  readonly #incoming = new WeakSet<Receiver>();
  readonly #sockets = new Set<Socket>();
  readonly #corked = new Set<Socket>();
  readonly #maxMessageBytes: number;
  /** Reply addresses and who receives from them: the first user to attach owns one. */
  readonly #claims = new Map<string, { readonly user: string; links: number }>();
  readonly #queueLimit: number;
  readonly #queueBytes: number;
  readonly #anonymous: boolean;
  #server: Server | undefined;
  #port = 0;
  readonly stats: RouterStats = {
    connections: 0,
    links: 0,
    routed: 0,
    delivered: 0,
    noRoute: 0,
    oversized: 0,
    overflowed: 0,
    unauthorized: 0,
  };

  constructor(options: RouterOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'router' });
    this.#maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.#queueLimit = options.queueLimit ?? 10_000;
    // A count alone would let 10,000 messages of 4 MiB each pile up for one slow link.
    this.#queueBytes = options.queueBytes ?? 64 * 1024 * 1024;
    this.#container = rhea.create_container({ id: 'cpe-router', autoaccept: false });
    const mechanisms = saslOf(this.#container);
    const host = options.host ?? '127.0.0.1';
    if (options.authorize && !options.credentialsFile && !options.key)
      throw new BusError(
        'INSECURE_ROUTER',
        'authorization needs users: a bus key or a credentials file',
      );
    const plain = Boolean(options.credentialsFile || options.key);
    if (plain) {
      if (!isLoopback(host) && !options.tls)
        throw new BusError(
          'INSECURE_ROUTER',
          `refusing SASL PLAIN on ${host} without TLS: PLAIN passwords would cross the network in clear (give router.tlsCert and router.tlsKey, or listen on loopback)`,
        );
      const credentials = options.credentialsFile
        ? Credentials.fromFile(options.credentialsFile)
        : undefined;
      const key = options.key;
      mechanisms.enable_plain(
        async (user: string, password: string) =>
          (key?.verify(user, password) ?? false) ||
          ((await credentials?.verify(user, password)) ?? false),
      );
    }
    // Anonymous users only where nobody is told apart (authorization off) and no
    // credentials file says who may come in.
    this.#anonymous = !options.authorize && !options.credentialsFile;
    if (this.#anonymous) {
      if (!isLoopback(host) && !options.allowAnonymous)
        throw new BusError(
          'INSECURE_ROUTER',
          `refusing anonymous access on ${host}: give a credentials file, or allow anonymous access explicitly`,
        );
      mechanisms.enable_anonymous();
    }
    this.#wire();
  }

  get port(): number {
    return this.#port;
  }

  start(): Promise<number> {
    const host = this.#options.host ?? '127.0.0.1';
    const tlsOptions = this.#options.tls;
    const accept = (socket: Socket): void => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      guardFrames(socket, MAX_FRAME_BYTES, (reason) =>
        this.#log.warn('dropped a connection', { reason }),
      );
      serverConnection(this.#container, {
        max_frame_size: MAX_FRAME_BYTES,
        idle_time_out: 10_000,
        tcp_no_delay: true, // else Nagle and delayed ACKs add 40 ms to every reply
        require_sasl: !this.#anonymous,
      }).accept(socket);
    };
    const server = tlsOptions
      ? tls.createServer(
          {
            cert: readFileSync(tlsOptions.certFile),
            key: readFileSync(tlsOptions.keyFile),
            ca: tlsOptions.caFile ? readFileSync(tlsOptions.caFile) : undefined,
            requestCert: tlsOptions.requestClientCert ?? false,
            rejectUnauthorized: tlsOptions.requestClientCert ?? false,
          },
          accept,
        )
      : net.createServer(accept);
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const why =
          err.code === 'EADDRINUSE'
            ? `${host}:${this.#options.port ?? DEFAULT_ROUTER_PORT} is in use (is another router or a broker listening there?)`
            : err.message;
        reject(
          new BusError('ROUTER_LISTEN_FAILED', `the embedded router cannot listen: ${why}`, {
            cause: err,
          }),
        );
      });
      server.listen(this.#options.port ?? DEFAULT_ROUTER_PORT, host, () => {
        this.#port = (server.address() as net.AddressInfo).port;
        this.#log.info('embedded router listening', {
          host,
          port: this.#port,
          tls: Boolean(tlsOptions),
          sasl: [
            ...(this.#options.credentialsFile || this.#options.key ? ['PLAIN'] : []),
            ...(this.#anonymous ? ['ANONYMOUS'] : []),
          ].join(' '),
          authorization: Boolean(this.#options.authorize),
        });
        resolve(this.#port);
      });
    });
  }

  #wire(): void {
    const c = this.#container;
    c.on('connection_open', () => (this.stats.connections += 1));
    c.on('disconnected', (ctx: EventContext) => this.#forgetConnection(ctx));
    c.on('connection_close', (ctx: EventContext) => this.#forgetConnection(ctx));
    // rhea passes the error itself here (a read or write that threw), not a context.
    c.on('error', (err: unknown) =>
      this.#log.warn('connection error: closed', {
        error: describe(err instanceof Error ? err : (err as EventContext | undefined)?.error),
      }),
    );
    c.on('protocol_error', (ctx: EventContext) =>
      this.#log.warn('protocol error', { error: describe(ctx.error) }),
    );
    c.on('sender_open', (ctx: EventContext) => this.#onReceiverAttached(ctx.sender!));
    c.on('receiver_open', (ctx: EventContext) => this.#onSenderAttached(ctx.receiver!));
    c.on('sender_close', (ctx: EventContext) => this.#forget(ctx.sender!));
    c.on('receiver_close', (ctx: EventContext) => {
      if (this.#incoming.delete(ctx.receiver!)) this.stats.links -= 1;
    });
    c.on('sendable', (ctx: EventContext) => this.#flush(ctx.sender!));
    c.on('message', (ctx: EventContext) => this.#route(ctx));
  }

  /** The peer receives: our sender link. Record which address it receives from. */
  #onReceiverAttached(sender: Sender): void {
    const remote = attachOf(sender).remote.attach;
    const address = remote.source?.dynamic
      ? `dynamic.${rhea.generate_uuid()}`
      : remote.source?.address;
    if (!address) {
      sender.close({
        condition: 'amqp:invalid-field',
        description: 'a receiving link needs a source address (or dynamic)',
      });
      return;
    }
    const user = this.#userOf(sender);
    if (user !== undefined && !remote.source?.dynamic && !this.#mayReceive(user, address)) {
      this.#refuse(sender, `${user} may not receive from ${address}`);
      return;
    }
    const exclusive = remote.source?.distribution_mode === 'move';
    sender.set_source({
      address,
      ...(remote.source?.dynamic ? { dynamic: true } : {}),
      ...(exclusive ? { distribution_mode: 'move' } : {}),
    } as never);
    sender.set_target((remote.target ?? {}) as never);
    attachOf(sender).local.attach.snd_settle_mode = 1; // forwarded pre-settled: the router keeps nothing
    attachOf(sender).local.attach.max_message_size = this.#maxMessageBytes;
    const container = (sender.connection as { remote?: { open?: { container_id?: string } } })
      .remote?.open?.container_id;
    const outgoing: Outgoing = {
      sender,
      address,
      exclusive,
      container,
      queue: new Fifo(),
      bytes: 0,
      claimed: user !== undefined && address.startsWith('reply.'),
    };
    if (outgoing.claimed) this.#claim(address, user!);
    this.#outgoing.set(sender, outgoing);
    // A server back on a new connection (the same container) takes its place at once:
    // its old connection may be dead without the router knowing yet (a cut network).
    if (exclusive && container !== undefined)
      for (const other of [...(this.#routes.get(address) ?? [])])
        if (other.exclusive && other.container === container) this.#forget(other.sender);
    let set = this.#routes.get(address);
    if (!set) this.#routes.set(address, (set = new Set()));
    set.add(outgoing);
    this.stats.links += 1;
  }

  /** The peer sends: our receiver link. */
  #onSenderAttached(receiver: Receiver): void {
    const remote = attachOf(receiver).remote.attach;
    const user = this.#userOf(receiver);
    // null or absent: an anonymous link (each message says where, in "to").
    const target = remote.target?.address || undefined;
    if (user !== undefined && target !== undefined && !maySend(user, target)) {
      this.#refuse(receiver, `${user} may not send to ${target}`);
      return;
    }
    receiver.set_target((remote.target ?? {}) as never);
    receiver.set_source((remote.source ?? {}) as never);
    // Told on attach, so that a sender knows the limit before it sends.
    attachOf(receiver).local.attach.max_message_size = this.#maxMessageBytes;
    this.#incoming.add(receiver);
    this.stats.links += 1;
  }

  #route(ctx: EventContext): void {
    const message = ctx.message!;
    const delivery = ctx.delivery!;
    const receiver = ctx.receiver!;
    if (
      exceedsSize(message.body, this.#maxMessageBytes) ||
      exceedsSize(message.application_properties, 64 * 1024)
    ) {
      this.stats.oversized += 1;
      delivery.reject({
        condition: 'amqp:link:message-size-exceeded',
        description: `message over ${this.#maxMessageBytes} bytes`,
      });
      return;
    }
    const target = attachOf(receiver).remote.attach.target?.address || undefined;
    const address = target ?? (typeof message.to === 'string' ? message.to : undefined);
    if (!address) {
      delivery.reject({
        condition: 'amqp:precondition-failed',
        description: 'no address: set the link target or the message "to"',
      });
      return;
    }
    const user = this.#userOf(receiver);
    const refused =
      user === undefined ? undefined : this.#forbidden(user, message, target, address);
    if (refused !== undefined) {
      this.stats.unauthorized += 1;
      this.#log.warn('message refused', { user: user!, address, reason: refused });
      if (delivery.remote_settled) settleLocally(delivery);
      else delivery.reject({ condition: 'amqp:unauthorized-access', description: refused });
      return;
    }
    const receivers = this.#routes.get(address);
    if (!receivers || receivers.size === 0) {
      this.stats.noRoute += 1;
      if (delivery.remote_settled) settleLocally(delivery);
      else
        delivery.reject({
          condition: 'amqp:not-found',
          description: `nobody receives from ${address}`,
        });
      return;
    }
    this.stats.routed += 1;
    // Re-encoded: ids must keep their AMQP type (rhea would turn a binary one into a
    // uuid). Only Buffer ids need it; every other message goes as it is, uncopied.
    const encoded = rhea.message.encode(
      Buffer.isBuffer(message.message_id) || Buffer.isBuffer(message.correlation_id)
        ? {
            ...message,
            message_id: wireMessageId(message.message_id),
            correlation_id: wireMessageId(message.correlation_id),
          }
        : message,
    );
    // Every subscriber gets a copy; of servers (move), only the first attached: a second
    // one on the address waits, and takes over when the first goes.
    let served = false;
    for (const outgoing of receivers) {
      if (outgoing.exclusive) {
        if (served) continue;
        served = true;
      }
      this.#deliver(outgoing, encoded);
    }
    if (delivery.remote_settled) settleLocally(delivery);
    else delivery.accept();
  }

  #deliver(outgoing: Outgoing, encoded: Buffer): void {
    if (outgoing.queue.length === 0 && outgoing.sender.sendable()) {
      this.#transmit(outgoing.sender, encoded);
      return;
    }
    outgoing.queue.push(encoded);
    outgoing.bytes += encoded.length;
    // The oldest go first; the newest message is always kept.
    while (
      outgoing.queue.length > 1 &&
      (outgoing.queue.length > this.#queueLimit || outgoing.bytes > this.#queueBytes)
    ) {
      outgoing.bytes -= outgoing.queue.shift()!.length;
      this.stats.overflowed += 1;
    }
  }

  #flush(sender: Sender): void {
    const outgoing = this.#outgoing.get(sender);
    if (!outgoing) return;
    while (outgoing.queue.length > 0 && sender.sendable()) {
      const next = outgoing.queue.shift()!;
      outgoing.bytes -= next.length;
      this.#transmit(sender, next);
    }
  }

  /**
   * rhea writes every frame with its own socket.write; corking the socket
   * until the end of this turn of the event loop sends them as one writev.
   */
  #transmit(sender: Sender, encoded: Buffer): void {
    sender.send(encoded, undefined, 0);
    this.stats.delivered += 1;
    const socket = (sender.connection as unknown as { socket?: Socket }).socket;
    if (!socket || this.#corked.has(socket)) return;
    this.#corked.add(socket);
    socket.cork();
    // rhea writes on process.nextTick; setImmediate comes after it.
    setImmediate(() => {
      this.#corked.delete(socket);
      socket.uncork();
    });
  }

  #forget(sender: Sender): void {
    const outgoing = this.#outgoing.get(sender);
    if (!outgoing) return;
    this.#outgoing.delete(sender);
    if (outgoing.claimed) this.#unclaim(outgoing.address);
    const set = this.#routes.get(outgoing.address);
    set?.delete(outgoing);
    if (set?.size === 0) this.#routes.delete(outgoing.address);
    this.stats.links -= 1;
  }

  #forgetConnection(ctx: EventContext): void {
    for (const set of this.#routes.values()) {
      for (const outgoing of [...set]) {
        if (outgoing.sender.connection === ctx.connection) this.#forget(outgoing.sender);
      }
    }
  }

  /** The identity a link's connection authenticated as; undefined with authorization off. */
  #userOf(link: Sender | Receiver): string | undefined {
    if (!this.#options.authorize) return undefined;
    const sasl = (link.connection as unknown as { sasl_transport?: { username?: string } })
      .sasl_transport;
    // Authorization needs SASL (require_sasl): no user name means none was given.
    return sasl?.username ?? '';
  }

  #mayReceive(user: string, address: string): boolean {
    if (!mayReceive(user, address)) return false;
    const claim = this.#claims.get(address);
    return claim === undefined || claim.user === user;
  }

  #claim(address: string, user: string): void {
    const claim = this.#claims.get(address);
    if (claim) claim.links += 1;
    else this.#claims.set(address, { user, links: 1 });
  }

  #unclaim(address: string): void {
    const claim = this.#claims.get(address);
    if (claim && --claim.links === 0) this.#claims.delete(address);
  }

  /** Why `user` may not send this message, if it may not. */
  #forbidden(
    user: string,
    message: { user_id?: unknown },
    target: string | undefined,
    address: string,
  ): string | undefined {
    // A link's target was checked on attach; an anonymous link's messages each here.
    if (target === undefined && !maySend(user, address))
      return `${user} may not send to ${address}`;
    const userId = userIdOf(message);
    if (userId === undefined)
      return mustSign(user) ? `${user} must set the message's user-id to its name` : undefined;
    return userId === user ? undefined : `${user} may not send as ${userId}`;
  }

  #refuse(link: Sender | Receiver, description: string): void {
    this.stats.unauthorized += 1;
    this.#log.warn('link refused', { reason: description });
    link.close({ condition: 'amqp:unauthorized-access', description });
  }

  /** Addresses with receivers, and how many: for status and tests. */
  routes(): Record<string, number> {
    return Object.fromEntries([...this.#routes].map(([address, set]) => [address, set.size]));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      for (const socket of this.#sockets) socket.destroy();
      if (!this.#server) return resolve();
      this.#server.close(() => resolve());
    });
  }
}
