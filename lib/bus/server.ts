/**
 * Serving methods of named objects on a node address, QMF-style. Every
 * request gets exactly one answer on its reply_to: `_method_response` with
 * the handler's result, or `_exception` with a stable code — malformed
 * message, unknown object or method, a missing, unknown or mistyped
 * argument (checked before the handler runs), an oversized result, or the
 * handler's own error. Nothing a caller sends can stop the server.
 */
import type { Message } from 'rhea';
import { CpeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Bus, Subscription } from './bus.js';
import { BusCode } from './errors.js';
import {
  Malformed,
  OPCODE,
  PACKAGE,
  exceptionMessage,
  opcodeOf,
  parseQuery,
  parseRequest,
  queryResponseMessage,
  responseMessage,
  type QmfMap,
  type Query,
} from './qmf.js';
import { userIdOf } from './identity.js';
import { checkArguments, type ArgSpecs } from './schema.js';
import { exceedsSize } from './size.js';

export interface CallContext {
  readonly object: string;
  readonly method: string;
  readonly log: Logger;
  /** Who sent the call, if it says (AMQP user-id: checked by the embedded router). */
  readonly userId?: string | undefined;
}

export interface MethodDefinition {
  readonly args: ArgSpecs;
  readonly handler: (args: QmfMap, context: CallContext) => Promise<QmfMap> | QmfMap;
}

export type ObjectMethods = Readonly<Record<string, MethodDefinition>>;

export interface MethodServerOptions {
  /** The logical node address to serve on. */
  readonly address: string;
  /** Methods by object name, then by method name. */
  readonly objects: Readonly<Record<string, ObjectMethods>>;
  /**
   * The QMF packages each object's class is found in by a `_query_request`
   * (its class is its name); default: ours alone.
   */
  readonly packages?: Readonly<Record<string, readonly string[]>>;
  /**
   * Where every server of the address receives every call (several CPEs on
   * RabbitMQ, whose node addresses fan out): whether this one carries out
   * and answers it. The others drop it unanswered. `method` is empty for a
   * query or a malformed call; `key`: the call's correlation id.
   */
  readonly mine?: (call: {
    readonly method: string;
    readonly args: QmfMap;
    readonly key: string;
  }) => boolean;
  readonly logger: Logger;
}

/** A client can name any reply address: keep at most this many reply senders open. */
const MAX_REPLY_SENDERS = 256;

export class MethodServer {
  readonly #bus: Bus;
  readonly #options: MethodServerOptions;
  readonly #log: Logger;
  readonly #replySenders = new Map<string, number>();
  #subscription: Subscription | undefined;
  #handled = 0;

  constructor(bus: Bus, options: MethodServerOptions) {
    this.#bus = bus;
    this.#options = options;
    this.#log = options.logger.child({ address: options.address });
  }

  /** Starts serving; resolves once the receiving link is attached. */
  async start(): Promise<void> {
    this.#subscription = this.#bus.receive(
      { kind: 'node', name: this.#options.address },
      (message) => void this.#onRequest(message),
      {
        credit: 200,
        onOversize: (message) =>
          this.#answerError(
            message,
            BusCode.messageTooLarge,
            `request over ${this.#bus.maxMessageBytes} bytes`,
          ),
      },
    );
    await this.#subscription.ready;
  }

  get handled(): number {
    return this.#handled;
  }

  async #onRequest(message: Message): Promise<void> {
    this.#handled += 1;
    // No one to answer: nothing is done (a create would run unseen, its outcome unknown).
    if (!usableReplyTo(message.reply_to)) {
      this.#log.warn('request without a usable reply_to: dropped, not executed', {
        reply_to: String(message.reply_to ?? '').slice(0, 100),
      });
      return;
    }
    const mine = this.#options.mine;
    const key = String(message.correlation_id ?? message.message_id ?? '');
    if (opcodeOf(message) === OPCODE.queryRequest) {
      if (!mine || mine({ method: '', args: {}, key })) this.#onQuery(message);
      return;
    }
    const request = parseRequest(message);
    if (
      mine &&
      !mine(request instanceof Malformed ? { method: '', args: {}, key } : { ...request, key })
    )
      return;
    if (request instanceof Malformed) {
      this.#log.warn('malformed request', { reason: request.reason });
      this.#answerError(message, BusCode.malformed, `malformed request: ${request.reason}`);
      return;
    }
    const { objectName, method, args } = request;
    const object = this.#options.objects[objectName];
    if (!object || !Object.hasOwn(this.#options.objects, objectName)) {
      this.#answerError(
        message,
        BusCode.unknownObject,
        `no object "${objectName}" here (objects: ${Object.keys(this.#options.objects).join(', ')})`,
      );
      return;
    }
    const definition = Object.hasOwn(object, method) ? object[method] : undefined;
    if (!definition) {
      this.#answerError(
        message,
        BusCode.unknownMethod,
        `${objectName} has no method "${method}" (methods: ${Object.keys(object).join(', ')})`,
      );
      return;
    }
    const log = this.#log.child({ object: objectName, method });
    try {
      checkArguments(method, definition.args, args);
      const result = await definition.handler(args, {
        object: objectName,
        method,
        log,
        userId: userIdOf(message),
      });
      if (exceedsSize(result, this.#bus.maxMessageBytes)) {
        this.#answerError(
          message,
          BusCode.messageTooLarge,
          `${method}: the result is over ${this.#bus.maxMessageBytes} bytes`,
        );
        return;
      }
      this.#answer(message, (to) => responseMessage(result, to, message.correlation_id));
    } catch (err) {
      if (err instanceof CpeError) {
        this.#answerError(message, err.code, err.message);
      } else {
        log.error('method failed', {
          error: err instanceof Error ? (err.stack ?? err.message) : String(err),
        });
        this.#answerError(
          message,
          BusCode.handlerFailed,
          `${method} failed: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
  }

  /** QMFv2 discovery: which objects (of which package and class) are served here. */
  #onQuery(message: Message): void {
    const query = parseQuery(message);
    if (query instanceof Malformed) {
      this.#answerError(message, BusCode.malformed, `malformed query: ${query.reason}`);
      return;
    }
    const items: QmfMap[] = [];
    for (const name of Object.keys(this.#options.objects)) {
      const packages = this.#options.packages?.[name] ?? [PACKAGE];
      // One schema per object unless a package is named: ours first.
      for (const pkg of query.packageName === undefined ? packages.slice(0, 1) : packages) {
        if (!matches(query, pkg, name)) continue;
        const schemaId = { _package_name: pkg, _class_name: name, _type: '_data' };
        const objectId = { _object_name: name };
        items.push(
          query.what === 'SCHEMA_ID'
            ? schemaId
            : query.what === 'OBJECT_ID'
              ? objectId
              : { _object_id: objectId, _schema_id: schemaId, _values: {} },
        );
      }
    }
    this.#answer(message, (to) =>
      queryResponseMessage(query.what, items, to, message.correlation_id),
    );
  }

  #answerError(message: Message, code: string, text: string): void {
    this.#answer(message, (to) => exceptionMessage(code, text, to, message.correlation_id));
  }

  #answer(message: Message, build: (to: string) => Message): void {
    const to = message.reply_to;
    if (!usableReplyTo(to)) return; // dropped on arrival
    this.#touchReplySender(to);
    this.#bus.post(this.#bus.senderTo({ address: to }, true), build(to));
  }

  /** Least recently used reply senders are closed beyond the cap. */
  #touchReplySender(to: string): void {
    this.#replySenders.delete(to);
    this.#replySenders.set(to, Date.now());
    if (this.#replySenders.size > MAX_REPLY_SENDERS) {
      const oldest = this.#replySenders.keys().next().value;
      if (oldest !== undefined) {
        this.#replySenders.delete(oldest);
        this.#bus.closeSender(oldest);
      }
    }
  }

  close(): void {
    this.#subscription?.close();
    for (const to of this.#replySenders.keys()) this.#bus.closeSender(to);
    this.#replySenders.clear();
  }
}

function matches(q: Query, packageName: string, name: string): boolean {
  return (
    (q.packageName === undefined || q.packageName === packageName) &&
    (q.className === undefined || q.className === name) &&
    (q.objectName === undefined || q.objectName === name)
  );
}

function usableReplyTo(to: unknown): to is string {
  return typeof to === 'string' && to.length > 0 && to.length <= 1024;
}
