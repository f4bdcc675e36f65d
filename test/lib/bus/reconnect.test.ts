import assert from 'node:assert/strict';
import type { Bus, BusState } from '../../../lib/bus/bus.js';
import { MethodClient } from '../../../lib/bus/client.js';
import { BusError } from '../../../lib/bus/errors.js';
import { EmbeddedRouter } from '../../../lib/bus/router.js';
import { MethodServer } from '../../../lib/bus/server.js';
import { silentLogger } from '../../../lib/log.js';
import { connect, rabbitmq, restartRabbitMq, until, type Transport } from '../../support/bus.js';

const logger = silentLogger();

interface Rig {
  readonly serverBus: Bus;
  readonly clientBus: Bus;
  readonly client: MethodClient;
  readonly server: MethodServer;
  readonly states: BusState[];
  readonly target: { address: string; object: string };
}

async function rig(transport: Transport, address: string): Promise<Rig> {
  const serverBus = connect(transport, 'srv');
  const clientBus = connect(transport, 'cli');
  const states: BusState[] = [];
  clientBus.onStateChange((s) => states.push(s));
  const server = new MethodServer(serverBus, {
    address,
    logger,
    objects: {
      obj: {
        wait: {
          args: { ms: { type: 'integer' } },
          handler: async (args) => {
            await new Promise((r) => setTimeout(r, args.ms as number));
            return { ok: true };
          },
        },
      },
    },
  });
  await serverBus.whenUp(10_000);
  await server.start();
  const client = new MethodClient(clientBus, { name: 'rc', logger, defaultTimeoutMs: 3000 });
  return { serverBus, clientBus, client, server, states, target: { address, object: 'obj' } };
}

/** Calls in flight across an outage: each must end, with a result or a clear error, never hang. */
async function callsAcross(r: Rig, outage: () => Promise<void>): Promise<string[]> {
  const calls = Array.from({ length: 20 }, (_, i) =>
    r.client.call(r.target, 'wait', { ms: 50 + i * 20 }, 15_000).then(
      () => 'ok',
      (err: Error) => (err instanceof BusError ? err.code : `unexpected: ${err.message}`),
    ),
  );
  await new Promise((res) => setTimeout(res, 100));
  await outage();
  return Promise.all(calls);
}

async function settle(r: Rig): Promise<void> {
  r.client.close();
  r.server.close();
  await r.clientBus.close();
  await r.serverBus.close();
}

describe('messaging across a router restart', function () {
  this.timeout(60_000);

  it('ends every call in flight clearly, reconnects by itself, and serves again', async () => {
    const first = new EmbeddedRouter({ logger, port: 0 });
    const port = await first.start();
    const transport: Transport = {
      name: 'embedded',
      profile: 'embedded',
      url: `amqp://127.0.0.1:${port}`,
      stop: async () => {},
    };
    const r = await rig(transport, 'reconnect.obj');
    let second: EmbeddedRouter | undefined;
    const outcomes = await callsAcross(r, async () => {
      await first.close();
      await until(() => r.clientBus.state === 'down', 5000, 'the client to see the bus down');
      await new Promise((res) => setTimeout(res, 300));
      second = new EmbeddedRouter({ logger, port });
      await second.start();
    });
    assert.ok(
      outcomes.every((o) => o === 'ok' || o === 'BUS_DOWN'),
      outcomes.join(' '),
    );
    assert.ok(outcomes.includes('BUS_DOWN'), 'some calls were cut by the restart');
    await until(() => r.clientBus.isUp && r.serverBus.isUp, 10_000, 'both buses back');
    await until(
      () => (second!.routes()['reconnect.obj'] ?? 0) > 0,
      10_000,
      'the server link re-attached',
    );
    assert.deepEqual(await r.client.call(r.target, 'wait', { ms: 1 }), { ok: true });
    assert.deepEqual(r.states.slice(0, 2), ['up', 'down']);
    assert.equal(r.states.at(-1), 'up');
    const replyAddresses = Object.keys(second!.routes()).filter((a) => a.startsWith('reply.rc.'));
    assert.equal(replyAddresses.length, 1, 'one fresh reply address after the reconnect');
    await settle(r);
    await second!.close();
  });

  it('fails a call with BUS_DOWN when the bus does not come back in time', async () => {
    const router = new EmbeddedRouter({ logger, port: 0 });
    const port = await router.start();
    const transport: Transport = {
      name: 'embedded',
      profile: 'embedded',
      url: `amqp://127.0.0.1:${port}`,
      stop: async () => {},
    };
    const r = await rig(transport, 'gone.obj');
    await router.close();
    await until(() => r.clientBus.state === 'down', 5000, 'down');
    const started = Date.now();
    await assert.rejects(r.client.call(r.target, 'wait', { ms: 1 }, 500), { code: 'BUS_DOWN' });
    assert.ok(Date.now() - started < 2000);
    await settle(r);
  });
});

describe('messaging across a RabbitMQ restart', function () {
  this.timeout(240_000);
  let transport: Transport;

  before(async function () {
    transport = await rabbitmq(this);
  });

  it('ends every call in flight clearly, reconnects by itself, and serves again', async () => {
    const r = await rig(transport, `rmq.reconnect.${process.pid}`);
    const outcomes = await callsAcross(r, () => restartRabbitMq());
    assert.ok(
      outcomes.every((o) => o === 'ok' || o === 'BUS_DOWN' || o === 'CALL_TIMEOUT'),
      outcomes.join(' '),
    );
    await until(() => r.clientBus.isUp && r.serverBus.isUp, 60_000, 'both buses back');
    // The server's receiving link is re-attached by rhea; give RabbitMQ a moment to bind it.
    let result: unknown;
    for (let i = 0; i < 20 && result === undefined; i++) {
      result = await r.client.call(r.target, 'wait', { ms: 1 }, 1000).catch(() => undefined);
    }
    assert.deepEqual(result, { ok: true });
    assert.ok(r.states.includes('down'));
    assert.equal(r.states.at(-1), 'up');
    await settle(r);
  });
});
