import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import rhea, { type EventContext } from 'rhea';
import { MethodClient } from '../../../lib/bus/client.js';
import { credentialLine } from '../../../lib/bus/credentials.js';
import { EmbeddedRouter } from '../../../lib/bus/router.js';
import { MethodServer } from '../../../lib/bus/server.js';
import { silentLogger } from '../../../lib/log.js';
import { connect, embedded, until, type Transport } from '../../support/bus.js';
import { selfSignedCert } from '../../support/tls.js';

const logger = silentLogger();
const dir = mkdtempSync(join(tmpdir(), 'cpe-router-'));

async function echoServer(transport: Transport, address: string) {
  const bus = connect(transport, 'srv');
  const server = new MethodServer(bus, {
    address,
    logger,
    objects: {
      o: { echo: { args: { v: { type: 'any' } }, handler: (a) => ({ v: a.v ?? null }) } },
    },
  });
  try {
    await bus.whenUp(5000);
    await server.start();
  } catch (err) {
    await bus.close();
    throw err;
  }
  return { bus, server, close: async () => (server.close(), await bus.close()) };
}

describe('embedded router', function () {
  this.timeout(30_000);

  it('authenticates PLAIN users from a credentials file, and refuses others', async () => {
    const file = join(dir, 'users');
    writeFileSync(file, `# bus users\n${await credentialLine('dpe', 'correct horse')}\n`);
    const t = await embedded({ credentialsFile: file });
    const withUser = (user: string, password: string): Transport => ({
      ...t,
      url: t.url.replace('amqp://', `amqp://${user}:${encodeURIComponent(password)}@`),
    });
    const server = await echoServer(withUser('dpe', 'correct horse'), 'auth.echo');
    const good = connect(withUser('dpe', 'correct horse'), 'good');
    const client = new MethodClient(good, { name: 'good', logger });
    assert.deepEqual(await client.call({ address: 'auth.echo', object: 'o' }, 'echo', { v: 1 }), {
      v: 1,
    });
    for (const bad of [withUser('dpe', 'wrong'), withUser('nobody', 'correct horse'), t]) {
      const bus = connect(bad, 'bad');
      await assert.rejects(bus.whenUp(1500), { code: 'BUS_DOWN' });
      await bus.close();
    }
    client.close();
    await good.close();
    await server.close();
    await t.stop();
  });

  it('refuses anonymous access on a non-loopback address unless asked, and PLAIN there without TLS', async () => {
    assert.throws(() => new EmbeddedRouter({ logger, host: '0.0.0.0', port: 0 }), {
      code: 'INSECURE_ROUTER',
    });
    const credentialsFile = join(dir, 'plain-users');
    writeFileSync(credentialsFile, `${await credentialLine('cpe', 'secret-password')}\n`);
    assert.throws(() => new EmbeddedRouter({ logger, host: '0.0.0.0', port: 0, credentialsFile }), {
      code: 'INSECURE_ROUTER',
      message: /PLAIN passwords would cross the network in clear/,
    });
    const { cert, key } = selfSignedCert(dir, '127.0.0.1');
    assert.doesNotThrow(
      () =>
        new EmbeddedRouter({
          logger,
          host: '0.0.0.0',
          port: 0,
          credentialsFile,
          tls: { certFile: cert, keyFile: key },
        }),
    );
    // On loopback, PLAIN stays allowed without TLS.
    assert.doesNotThrow(() => new EmbeddedRouter({ logger, port: 0, credentialsFile }));
    assert.doesNotThrow(
      () => new EmbeddedRouter({ logger, host: '0.0.0.0', port: 0, allowAnonymous: true }),
    );
  });

  it('serves TLS, and clients verify its certificate', async () => {
    const { cert, key } = selfSignedCert(dir, '127.0.0.1', 'localhost');
    const t = await embedded({ tls: { certFile: cert, keyFile: key } });
    const secure: Transport = { ...t, url: t.url.replace('amqp://', 'amqps://') };
    const server = await echoServer({ ...secure }, 'tls.echo').catch(() => null);
    assert.equal(server, null, 'a client that does not trust the certificate must not connect');
    const trusting = connect(secure, 'srv', { tls: { caFile: cert } });
    const srv = new MethodServer(trusting, {
      address: 'tls.echo',
      logger,
      objects: {
        o: { echo: { args: { v: { type: 'any' } }, handler: (a) => ({ v: a.v ?? null }) } },
      },
    });
    await trusting.whenUp(5000);
    await srv.start();
    const client = new MethodClient(trusting, { name: 'tls', logger });
    assert.deepEqual(
      await client.call({ address: 'tls.echo', object: 'o' }, 'echo', { v: 'secret' }),
      { v: 'secret' },
    );
    client.close();
    srv.close();
    await trusting.close();
    await t.stop();
  });

  it('cuts a peer that announces an oversized frame, and garbage, and keeps serving', async () => {
    const t = await embedded();
    const server = await echoServer(t, 'guard.echo');
    const port = Number(new URL(t.url).port);
    const hostile = (bytes: Buffer): Promise<void> =>
      new Promise((resolve) => {
        const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(bytes));
        socket.on('error', () => undefined);
        socket.on('close', () => resolve());
        setTimeout(() => socket.destroy(), 3000);
      });
    const header = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 1, 0, 0]);
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(2 ** 31, 0); // a 2 GiB frame
    const started = Date.now();
    await hostile(Buffer.concat([header, huge]));
    assert.ok(Date.now() - started < 2500, 'the oversized frame was cut at once');
    await hostile(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    const bus = connect(t, 'after');
    const client = new MethodClient(bus, { name: 'after', logger });
    assert.deepEqual(await client.call({ address: 'guard.echo', object: 'o' }, 'echo', { v: 2 }), {
      v: 2,
    });
    client.close();
    await bus.close();
    await server.close();
    await t.stop();
  });

  it('names dynamic receivers and relays messages from anonymous senders by "to"', async () => {
    const t = await embedded();
    const port = Number(new URL(t.url).port);
    const container = rhea.create_container();
    const conn = container.connect({ host: '127.0.0.1', port, reconnect: false });
    conn.on('disconnected', () => undefined);
    const received: unknown[] = [];
    const receiver = conn.open_receiver({ source: { dynamic: true } as never });
    receiver.on('message', (ctx: EventContext) => received.push(ctx.message?.body));
    await new Promise((r) => receiver.once('receiver_open', r));
    const address = receiver.source.address;
    assert.match(address, /^dynamic\./);
    const anonymous = conn.open_sender({ target: {} as never });
    await new Promise((r) => anonymous.once('sendable', r));
    anonymous.send({ to: address, body: { hello: 'dynamic' } });
    await until(() => received.length === 1, 5000, 'the relayed message');
    assert.deepEqual(received, [{ hello: 'dynamic' }]);
    conn.close();
    await t.stop();
  });

  it('keeps flowing past the 2,048-delivery session window of rhea, routed or not', async () => {
    // Pre-settled deliveries the router did not settle locally used to fill the
    // session's incoming buffer: the connection stalled after 2,048 of them.
    const t = await embedded();
    const publisher = connect(t, 'pub');
    const subscriber = connect(t, 'sub');
    await Promise.all([publisher.whenUp(5000), subscriber.whenUp(5000)]);
    let received = 0;
    const sub = subscriber.receive({ kind: 'topic', name: 'flow.seen' }, () => (received += 1));
    await sub.ready;
    const seen = publisher.sender('topic', 'flow.seen', true);
    const unseen = publisher.sender('topic', 'flow.unseen', true);
    let sent = 0;
    const deadline = Date.now() + 15_000;
    while (sent < 5000 && Date.now() < deadline) {
      if (!seen.sendable() || !unseen.sendable()) {
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      seen.send({ body: sent });
      unseen.send({ body: sent }); // nobody listens: dropped, and settled all the same
      sent += 1;
    }
    assert.equal(sent, 5000, 'the router stopped granting credit');
    await until(() => received === 5000, 15_000, 'all 5,000 routed messages');
    assert.equal(t.router!.stats.noRoute, 5000);
    sub.close();
    await Promise.all([publisher.close(), subscriber.close()]);
    await t.stop();
  });

  it('bounds what it holds for a slow receiver in bytes too, dropping the oldest', async () => {
    const t = await embedded({ queueBytes: 1024 * 1024 });
    const port = Number(new URL(t.url).port);
    const conn = rhea.create_container().connect({ host: '127.0.0.1', port, reconnect: false });
    conn.on('disconnected', () => undefined);
    const received: number[] = [];
    // A receiver that grants no credit: everything for it waits in the router.
    const slow = conn.open_receiver({
      source: { address: 'slow.topic' },
      credit_window: 0,
      autoaccept: true,
    });
    slow.on('message', (ctx: EventContext) =>
      received.push((ctx.message?.body as { n: number }).n),
    );
    await new Promise((r) => slow.once('receiver_open', r));
    const publisher = connect(t, 'pub');
    await publisher.whenUp(5000);
    const sender = publisher.sender('topic', 'slow.topic', true);
    const chunk = 'x'.repeat(100 * 1024);
    for (let n = 0; n < 30; n++) {
      while (!sender.sendable()) await new Promise((r) => setTimeout(r, 5));
      sender.send({ body: { n, chunk } });
    }
    await until(() => t.router!.stats.overflowed >= 20, 10_000, 'the oldest dropped');
    slow.add_credit(100);
    await until(
      () => received.length > 0 && received.at(-1) === 29,
      10_000,
      'the newest delivered',
    );
    await new Promise((r) => setTimeout(r, 200));
    // About 1 MiB of 100 KiB messages: the last nine or ten, in order, none twice.
    assert.ok(received.length <= 10 && received.length >= 8, `kept ${received.length}`);
    assert.deepEqual(
      received,
      received.map((_, i) => 30 - received.length + i),
    );
    conn.close();
    await publisher.close();
    await t.stop();
  });

  it('says clearly when its port is taken', async () => {
    const t = await embedded();
    const port = Number(new URL(t.url).port);
    const second = new EmbeddedRouter({ logger, port });
    await assert.rejects(second.start(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ROUTER_LISTEN_FAILED');
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port} is in use`));
      return true;
    });
    await t.stop();
  });
});
