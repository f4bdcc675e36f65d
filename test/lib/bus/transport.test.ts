import assert from 'node:assert/strict';
import rhea from 'rhea';
import { DEFAULT_MAX_MESSAGE_BYTES, type Bus } from '../../../lib/bus/bus.js';
import { EmbeddedRouter } from '../../../lib/bus/router.js';
import { isAmqpUuid } from '../../../lib/bus/rhea-decoder.js';
import { DEFAULT_MAX_CONFIG_BYTES } from '../../../lib/config/index.js';
import { MethodClient } from '../../../lib/bus/client.js';
import { BusError, RemoteError } from '../../../lib/bus/errors.js';
import {
  HeartbeatSender,
  publishEvents,
  subscribeEvents,
  subscribeHeartbeats,
} from '../../../lib/bus/events.js';
import {
  requestMessage,
  type BusEvent,
  type Heartbeat,
  type QmfMap,
} from '../../../lib/bus/qmf.js';
import { MethodServer } from '../../../lib/bus/server.js';
import { CpeError } from '../../../lib/errors.js';
import { silentLogger } from '../../../lib/log.js';
import { connect, embedded, rabbitmq, until, type Transport } from '../../support/bus.js';

const logger = silentLogger();
let unique = 0;
const name = (base: string): string => `test.${base}.${process.pid}.${++unique}`;

function suite(title: string, setup: (ctx: Mocha.Context) => Promise<Transport>): void {
  describe(`messaging over the ${title}`, function () {
    this.timeout(30_000);
    let transport: Transport;
    let serverBus: Bus;
    let clientBus: Bus;
    let server: MethodServer;
    let client: MethodClient;
    const target = { address: '', object: 'calc' };
    let slowCalls = 0;

    before(async function () {
      transport = await setup(this);
      serverBus = connect(transport, 'srv');
      clientBus = connect(transport, 'cli', { maxMessageBytes: 64 * 1024 });
      target.address = name('calc');
      server = new MethodServer(serverBus, {
        address: target.address,
        logger,
        objects: {
          calc: {
            echo: {
              args: { value: { type: 'any' } },
              handler: (args) => ({ value: args.value ?? null }),
            },
            add: {
              args: { a: { type: 'number' }, b: { type: 'number', optional: true } },
              handler: (args) => ({
                sum: (args.a as number) + ((args.b as number | undefined) ?? 0),
              }),
            },
            fail: {
              args: { how: { type: 'string', oneOf: ['coded', 'crash'] } },
              handler: (args) => {
                if (args.how === 'coded')
                  throw new CpeError('DEPLOYABLE_EXISTS', 'deployable wordpress exists');
                throw new TypeError('cannot read properties of undefined');
              },
            },
            slow: {
              args: { ms: { type: 'integer', min: 0, max: 10_000 } },
              handler: async (args) => {
                slowCalls += 1;
                await new Promise((r) => setTimeout(r, args.ms as number));
                return { waited: args.ms! };
              },
            },
            big: {
              args: { bytes: { type: 'integer' } },
              handler: (args) => ({ data: 'x'.repeat(args.bytes as number) }),
            },
          },
        },
      });
      await serverBus.whenUp(10_000);
      await server.start();
      client = new MethodClient(clientBus, {
        name: 'test',
        logger,
        defaultTimeoutMs: 5000,
        maxInFlight: 50,
      });
    });

    after(async () => {
      client?.close();
      server?.close();
      await clientBus?.close();
      await serverBus?.close();
      await transport?.stop();
    });

    it('is up, and says since when', () => {
      assert.equal(clientBus.state, 'up');
      assert.ok(clientBus.since <= Date.now());
    });

    it('calls a method and returns its result', async () => {
      assert.deepEqual(await client.call(target, 'add', { a: 2, b: 40 }), { sum: 42 });
      assert.deepEqual(await client.call(target, 'add', { a: 1.5 }), { sum: 1.5 });
    });

    it('carries every QMF value type unchanged', async () => {
      const value: QmfMap = {
        text: 'héllo ✓',
        int: -7,
        big: 2 ** 40,
        float: 0.25,
        yes: true,
        no: false,
        nothing: null,
        list: [1, 'two', [3], { four: 4 }],
        map: { nested: { deeper: 'ok' } },
        when: new Date(1_700_000_000_000),
        bytes: Buffer.from([0, 1, 2, 255]),
      };
      const { value: back } = await client.call(target, 'echo', { value });
      assert.deepEqual(back, value);
    });

    it('carries empty lists as empty, call after call', async () => {
      // rhea decoded every empty list to one shared array that its frame
      // handling then filled with nulls (lib/bus/rhea-decoder.ts).
      for (let i = 0; i < 3; i++) {
        const { value: back } = await client.call(target, 'echo', {
          value: { none: [], also: [[]] },
        });
        assert.deepEqual(back, { none: [], also: [[]] });
      }
    });

    it('answers bad calls with stable codes, and keeps serving', async () => {
      const code = async (method: string, args: QmfMap, object = 'calc'): Promise<string> => {
        try {
          await client.call({ ...target, object }, method, args);
          return 'no error';
        } catch (err) {
          assert.ok(err instanceof RemoteError, String(err));
          return `${err.code}: ${err.message}`;
        }
      };
      assert.equal(
        await code('nope', {}),
        'UNKNOWN_METHOD: calc has no method "nope" (methods: echo, add, fail, slow, big)',
      );
      assert.equal(
        await code('add', {}, 'abacus'),
        'UNKNOWN_OBJECT: no object "abacus" here (objects: calc)',
      );
      assert.equal(await code('add', {}), 'MISSING_ARGUMENT: add: missing argument "a" (number)');
      assert.equal(
        await code('add', { a: 'two' }),
        'BAD_ARGUMENT: add: argument "a" must be a number, not a string',
      );
      assert.equal(
        await code('add', { a: 1, c: 2 }),
        'UNKNOWN_ARGUMENT: add: unknown argument "c" (takes a, b)',
      );
      assert.equal(
        await code('slow', { ms: 99_999 }),
        'BAD_ARGUMENT: slow: argument "ms" must be at most 10000',
      );
      assert.equal(
        await code('fail', { how: 'coded' }),
        'DEPLOYABLE_EXISTS: deployable wordpress exists',
      );
      assert.equal(
        await code('fail', { how: 'crash' }),
        'HANDLER_FAILED: fail failed: cannot read properties of undefined',
      );
      assert.deepEqual(await client.call(target, 'add', { a: 1 }), { sum: 1 });
    });

    it('answers a malformed request with MALFORMED_MESSAGE', async () => {
      const replies: unknown[] = [];
      const replyName = name('raw-reply');
      const sub = clientBus.receive({ kind: 'node', name: replyName }, (m) => replies.push(m.body));
      await sub.ready;
      const replyTo = clientBus.profile.target('node', replyName).address;
      const request = requestMessage(
        { objectName: 'calc', method: 'add', args: {} },
        replyTo,
        'raw-1',
        5000,
      );
      clientBus.sender('node', target.address).send({ ...request, body: 'not a map' });
      await until(() => replies.length > 0, 10_000, 'the exception');
      assert.deepEqual(replies[0], {
        _values: {
          error_code: 'MALFORMED_MESSAGE',
          error_text: 'malformed request: the body is not a map',
        },
      });
      sub.close();
    });

    it("answers with the request's correlation_id as it came, a binary one too", async () => {
      const replies: { id: unknown; body: unknown }[] = [];
      const replyName = name('raw-corr');
      const sub = clientBus.receive({ kind: 'node', name: replyName }, (m) =>
        replies.push({ id: m.correlation_id, body: m.body }),
      );
      await sub.ready;
      const replyTo = clientBus.profile.target('node', replyName).address;
      const request = requestMessage(
        { objectName: 'calc', method: 'add', args: { a: 1, b: 2 } },
        replyTo,
        'unused',
        5000,
      );
      const binary = Buffer.from('corr-7');
      const sixteen = Buffer.from('sixteen bytes id');
      const uuid = Buffer.from('0123456789abcdef');
      const types = (
        rhea as unknown as {
          types: { wrap_binary(b: Buffer): never; wrap_uuid(b: Buffer): never };
        }
      ).types;
      const send = (id: unknown): void => {
        clientBus.sender('node', target.address).send({ ...request, correlation_id: id as never });
      };
      send(types.wrap_binary(binary));
      send('text-8');
      send(types.wrap_binary(sixteen)); // 16 bytes, as binary: must not come back a uuid
      send(types.wrap_uuid(uuid));
      await until(() => replies.length === 4, 10_000, 'every answer');
      assert.deepEqual(replies[0], { id: binary, body: { _arguments: { sum: 3 } } });
      assert.equal(replies[1]!.id, 'text-8');
      assert.deepEqual(
        replies.slice(2).map((r) => [Buffer.from(r.id as Buffer).toString(), isAmqpUuid(r.id)]),
        [
          ['sixteen bytes id', false],
          ['0123456789abcdef', true],
        ],
      );
      sub.close();
    });

    it('drops a request without reply_to: it is not executed', async () => {
      const before = slowCalls;
      const request = requestMessage(
        { objectName: 'calc', method: 'slow', args: { ms: 0 } },
        'unused',
        'raw-2',
        5000,
      );
      const noReply = { ...request };
      delete noReply.reply_to;
      clientBus.sender('node', target.address).send(noReply);
      // A call after it, on the same link, is answered: so the first has arrived.
      assert.deepEqual(await client.call(target, 'slow', { ms: 0 }), { waited: 0 });
      assert.equal(slowCalls, before + 1, 'only the call with a reply_to ran');
    });

    it('refuses oversized arguments before sending, and oversized results', async () => {
      await assert.rejects(client.call(target, 'echo', { value: 'x'.repeat(70_000) }), {
        code: 'MESSAGE_TOO_LARGE',
      });
      await assert.rejects(client.call(target, 'big', { bytes: 5 * 1024 * 1024 }), (err: Error) => {
        assert.ok(err instanceof RemoteError);
        assert.equal(err.code, 'MESSAGE_TOO_LARGE');
        return true;
      });
    });

    it('times out a call whose reply does not come in time, and ignores the late reply', async () => {
      const before = slowCalls;
      await assert.rejects(client.call(target, 'slow', { ms: 800 }, 200), (err: Error) => {
        assert.ok(err instanceof BusError);
        assert.equal(err.code, 'CALL_TIMEOUT');
        assert.match(err.message, /calc\.slow: no reply within 200 ms/);
        return true;
      });
      await until(() => slowCalls > before, 5000, 'the slow call to run');
      await new Promise((r) => setTimeout(r, 900));
      assert.equal(client.inFlight, 0);
      assert.deepEqual(await client.call(target, 'add', { a: 3 }), { sum: 3 });
    });

    it('limits calls in flight', async () => {
      const calls = Array.from({ length: 50 }, () => client.call(target, 'slow', { ms: 300 }));
      await assert.rejects(client.call(target, 'add', { a: 1 }), { code: 'TOO_MANY_CALLS' });
      const results = await Promise.all(calls);
      assert.equal(results.length, 50);
    });

    it('runs many calls at once, each answered to its caller', async () => {
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => client.call(target, 'add', { a: i, b: i })),
      );
      assert.deepEqual(
        results.map((r) => r.sum),
        Array.from({ length: 40 }, (_, i) => 2 * i),
      );
    });

    it('delivers events to every subscriber, filtered', async () => {
      const topic = name('events');
      const all: BusEvent[] = [];
      const wordpress: BusEvent[] = [];
      const s1 = subscribeEvents(serverBus, topic, (e) => all.push(e));
      const s2 = subscribeEvents(clientBus, topic, (e) => wordpress.push(e), {
        names: ['service_state_change'],
        values: { deployable: 'wordpress' },
        severity: 'warn',
      });
      await Promise.all([s1.ready, s2.ready]);
      const now = Date.now();
      const events: BusEvent[] = [
        {
          name: 'service_state_change',
          timestamp: now,
          severity: 'error',
          values: { deployable: 'wordpress', service: 'rsc_web_wp', state: 'failed' },
        },
        {
          name: 'service_state_change',
          timestamp: now,
          severity: 'info',
          values: { deployable: 'wordpress', state: 'running' },
        },
        {
          name: 'service_state_change',
          timestamp: now,
          severity: 'error',
          values: { deployable: 'other' },
        },
        {
          name: 'assembly_state_change',
          timestamp: now,
          severity: 'crit',
          values: { deployable: 'wordpress' },
        },
      ];
      assert.equal(publishEvents(clientBus, topic, events), true);
      await until(() => all.length === 4, 10_000, 'all four events');
      await until(() => wordpress.length === 1, 2000, 'the filtered event');
      assert.deepEqual(all, events);
      assert.deepEqual(wordpress, [events[0]]);
      s1.close();
      s2.close();
    });

    it('sends heartbeats with a sequence, the interval and an epoch per sender', async () => {
      const topic = name('hb');
      const beats: Heartbeat[] = [];
      const sub = subscribeHeartbeats(serverBus, topic, (b) => beats.push(b), {
        agents: ['agent.wp.web1'],
      });
      await sub.ready;
      const first = new HeartbeatSender(clientBus, topic, 'agent.wp.web1', 50, () => ({
        load1: 0.25,
      }));
      const other = new HeartbeatSender(clientBus, topic, 'agent.wp.web2', 50);
      first.start();
      other.start();
      await until(() => beats.length >= 3, 10_000, 'three heartbeats');
      first.stop();
      other.stop();
      const restarted = new HeartbeatSender(clientBus, topic, 'agent.wp.web1', 50);
      restarted.beat();
      await until(
        () => beats.some((b) => b.epoch === restarted.epoch),
        5000,
        "the restarted sender's beat",
      );
      assert.ok(beats.every((b) => b.agent === 'agent.wp.web1'));
      const firstEpoch = beats.filter((b) => b.epoch === first.epoch);
      assert.deepEqual(
        firstEpoch.map((b) => b.sequence),
        firstEpoch.map((_, i) => i + 1),
      );
      assert.equal(firstEpoch[0]?.intervalMs, 50);
      assert.deepEqual(firstEpoch[0]?.values, { load1: 0.25 });
      assert.notEqual(restarted.epoch, first.epoch);
      assert.equal(beats.at(-1)?.sequence, 1);
      sub.close();
    });

    it('sends the first heartbeat as soon as its new link can, not an interval later', async () => {
      const topic = name('hb-first');
      const beats: Heartbeat[] = [];
      const sub = subscribeHeartbeats(serverBus, topic, (b) => beats.push(b));
      await sub.ready;
      // A new topic: its link is opened by start(), and has no credit yet.
      const sender = new HeartbeatSender(clientBus, topic, 'agent.wp.first', 3_600_000);
      sender.start();
      try {
        await until(
          () => beats.length === 1,
          10_000,
          'the first heartbeat (the interval is an hour)',
        );
        assert.equal(beats[0]?.sequence, 1);
      } finally {
        sender.stop();
        sub.close();
      }
    });
  });
}

suite('embedded router', () => embedded());
suite('RabbitMQ AMQP 1.0 plugin', (ctx) => rabbitmq(ctx));

describe('the embedded router tells its size limit', function () {
  this.timeout(20_000);

  it('advertises max-message-size on every link it attaches, as the daemons do on theirs', async () => {
    const router = new EmbeddedRouter({ logger: silentLogger(), port: 0 });
    const port = await router.start();
    const connection = rhea
      .create_container()
      .connect({ host: '127.0.0.1', port, reconnect: false });
    try {
      const receiver = connection.open_receiver({ source: { address: 'somewhere' } });
      const sender = connection.open_sender({ target: { address: 'somewhere' } });
      await Promise.all([
        new Promise((r) => receiver.once('receiver_open', r)),
        new Promise((r) => sender.once('sender_open', r)),
      ]);
      const advertised = (link: unknown): unknown =>
        (link as { remote: { attach: { max_message_size?: number } } }).remote.attach
          .max_message_size;
      assert.equal(advertised(receiver), DEFAULT_MAX_MESSAGE_BYTES);
      assert.equal(advertised(sender), DEFAULT_MAX_MESSAGE_BYTES);
      assert.ok(DEFAULT_MAX_MESSAGE_BYTES > DEFAULT_MAX_CONFIG_BYTES + 32 * 1024);
    } finally {
      await new Promise((r) => {
        connection.once('connection_close', r);
        connection.close();
      });
      await router.close();
    }
  });
});

describe('the embedded router gives a node to one server at a time', function () {
  this.timeout(20_000);

  it('delivers each call to the first server only; the second takes over when the first goes', async () => {
    const transport = await embedded();
    const buses = ['first', 'second', 'caller'].map((n) => connect(transport, n));
    try {
      await Promise.all(buses.map((b) => b.whenUp(5000)));
      const [a, b, c] = buses as [Bus, Bus, Bus];
      const calls: string[] = [];
      const serve = (bus: Bus, who: string): MethodServer =>
        new MethodServer(bus, {
          address: 'svc.one',
          objects: { o: { who: { args: {}, handler: () => (calls.push(who), { who }) } } },
          logger,
        });
      const first = serve(a, 'first');
      await first.start();
      const second = serve(b, 'second');
      await second.start();
      const client = new MethodClient(c, { name: 'caller', logger });
      const target = { address: 'svc.one', object: 'o' };
      for (let i = 0; i < 5; i++)
        assert.deepEqual(await client.call(target, 'who'), { who: 'first' });
      assert.deepEqual(calls, ['first', 'first', 'first', 'first', 'first']);
      first.close();
      await until(() => transport.router!.routes()['svc.one'] === 1, 5000, 'the first server gone');
      assert.deepEqual(await client.call(target, 'who'), { who: 'second' });
      client.close();
      second.close();
    } finally {
      await Promise.all(buses.map((bus) => bus.close()));
      await transport.stop();
    }
  });
});

describe('a server that reconnects to the embedded router', function () {
  this.timeout(20_000);

  it('takes its address back at once, though its old connection is not known dead yet', async () => {
    const transport = await embedded();
    const port = Number(new URL(transport.url).port);
    // Two connections of one container, as a reconnect after a cut network makes them:
    // the first is never closed (its peer cannot say goodbye).
    const container = rhea.create_container({ id: 'server-that-reconnects' });
    const got: string[] = [];
    const attach = async (who: string) => {
      const connection = container.connect({ host: '127.0.0.1', port, reconnect: false });
      const receiver = connection.open_receiver({
        source: { address: 'svc.back', distribution_mode: 'move' },
      });
      receiver.on('message', () => got.push(who));
      await new Promise((r) => receiver.once('receiver_open', r));
      return connection;
    };
    const stale = await attach('old connection');
    const fresh = await attach('new connection');
    const caller = connect(transport, 'caller');
    try {
      await caller.whenUp(5000);
      caller.post(caller.sender('node', 'svc.back'), { body: 'hello' });
      await until(() => got.length > 0, 5000, 'the message');
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(got, ['new connection']);
    } finally {
      await caller.close();
      stale.close();
      fresh.close();
      await transport.stop();
    }
  });
});
