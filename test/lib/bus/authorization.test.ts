/**
 * The embedded router with authorization on, against raw AMQP peers (rhea
 * without our Bus), so that what a hostile client can send is what is tried.
 */
import assert from 'node:assert/strict';
import rhea, { type Connection, type EventContext, type Message } from 'rhea';
import { BusKey } from '../../../lib/bus/credentials.js';
import { EmbeddedRouter } from '../../../lib/bus/router.js';
import { silentLogger } from '../../../lib/log.js';

const key = new BusKey(Buffer.alloc(32, 42));

/** A raw connection as `user` (its derived password unless one is given); resolves once open. */
function open(port: number, user?: string, password?: string): Promise<Connection> {
  const container = rhea.create_container({ id: `test-${user ?? 'anonymous'}` });
  container.on('error', () => undefined);
  const connection = container.connect({
    host: '127.0.0.1',
    port,
    reconnect: false,
    ...(user ? { username: user, password: password ?? key.password(user) } : {}),
  });
  return new Promise((resolve, reject) => {
    connection.once('connection_open', () => resolve(connection));
    connection.once('connection_error', (ctx: EventContext) =>
      reject(
        new Error(
          `refused: ${(ctx.connection.error as { condition?: string } | undefined)?.condition ?? ''}`,
        ),
      ),
    );
    connection.once('disconnected', () => reject(new Error('disconnected')));
  });
}

/** 'ok', or the condition a link to `address` was closed with. */
function attach(connection: Connection, how: 'receive' | 'send', address: string): Promise<string> {
  const link =
    how === 'receive'
      ? connection.open_receiver({ source: address, credit_window: 10 })
      : connection.open_sender({ target: address });
  return new Promise((resolve) => {
    link.once(how === 'receive' ? 'receiver_open' : 'sender_open', () =>
      // A refused link is attached, then closed at once: wait for the close.
      setTimeout(() => resolve(link.is_open() ? 'ok' : 'closed'), 100),
    );
    link.once(how === 'receive' ? 'receiver_error' : 'sender_error', (ctx: EventContext) =>
      resolve(
        String(
          (
            (how === 'receive' ? ctx.receiver : ctx.sender)?.error as
              { condition?: string } | undefined
          )?.condition,
        ),
      ),
    );
  });
}

/** 'accepted', or the condition of the rejection, of one message sent on an anonymous link. */
function sendOne(connection: Connection, message: Message): Promise<string> {
  const sender = connection.open_sender({ target: {} as never });
  return new Promise((resolve) => {
    sender.once('sendable', () => sender.send(message));
    sender.once('accepted', () => resolve('accepted'));
    sender.once('rejected', (ctx: EventContext) =>
      resolve(
        String(
          (ctx.delivery?.remote_state as { error?: { condition?: string } } | undefined)?.error
            ?.condition,
        ),
      ),
    );
  });
}

describe('the embedded router with authorization', function () {
  this.timeout(30_000);
  let router: EmbeddedRouter;
  let port: number;
  const connections: Connection[] = [];
  const as = async (user?: string, password?: string): Promise<Connection> => {
    const c = await open(port, user, password);
    connections.push(c);
    return c;
  };

  before(async () => {
    router = new EmbeddedRouter({ logger: silentLogger(), port: 0, key, authorize: true });
    port = await router.start();
  });
  afterEach(() => {
    for (const c of connections.splice(0)) c.close();
  });
  after(() => router.close());

  it('lets in only users with their password: no anonymous, no wrong password', async () => {
    await assert.rejects(as(), /refused|disconnected/);
    await assert.rejects(as('dpe.web', 'not-the-password'), /refused|disconnected/);
    await assert.rejects(as('dpe.web', key.password('dpe.db')), /refused|disconnected/);
    await as('dpe.web');
  });

  it("gives the CPE's calls to the CPE alone", async () => {
    const client = await as('client');
    assert.equal(await attach(client, 'receive', 'cpe'), 'amqp:unauthorized-access');
    assert.equal(await attach(client, 'send', 'cpe'), 'ok');
    const dpe = await as('dpe.web');
    assert.equal(await attach(dpe, 'receive', 'cpe'), 'amqp:unauthorized-access');
    const cpe = await as('cpe');
    assert.equal(await attach(cpe, 'receive', 'cpe'), 'ok');
  });

  it('lets a DPE serve and listen only as itself', async () => {
    const dpe = await as('dpe.web');
    assert.equal(await attach(dpe, 'receive', 'dpe.web'), 'ok');
    assert.equal(await attach(dpe, 'receive', 'cpe.heartbeats.web'), 'ok');
    assert.equal(await attach(dpe, 'receive', 'dpe.db'), 'amqp:unauthorized-access');
    assert.equal(await attach(dpe, 'receive', 'cpe.heartbeats.db'), 'amqp:unauthorized-access');
    assert.equal(await attach(dpe, 'send', 'agent.db.a1'), 'amqp:unauthorized-access');
  });

  it("refuses a message that does not carry its sender's own user-id, where one is needed", async () => {
    const agent = await as('agent.web.a1');
    const beat = { to: 'cpe.heartbeats.web', body: 'beat' };
    assert.equal(await sendOne(agent, beat), 'amqp:unauthorized-access', 'unsigned');
    assert.equal(
      await sendOne(agent, { ...beat, user_id: Buffer.from('agent.web.a2') as never }),
      'amqp:unauthorized-access',
      "another's",
    );
    // Nobody receives there: signed, it passes the checks and is not found.
    assert.equal(
      await sendOne(agent, { ...beat, user_id: Buffer.from('agent.web.a1') as never }),
      'amqp:not-found',
    );
    assert.equal(
      await sendOne(agent, {
        to: 'cpe.heartbeats.db',
        body: 'beat',
        user_id: Buffer.from('agent.web.a1') as never,
      }),
      'amqp:unauthorized-access',
      "another deployable's topic",
    );
    const client = await as('client');
    assert.equal(
      await sendOne(client, { to: 'cpe', body: 'x', user_id: Buffer.from('cpe') as never }),
      'amqp:unauthorized-access',
      'a client posing as the CPE',
    );
  });

  it('keeps a reply address to the user that received from it first', async () => {
    const owner = await as('client');
    assert.equal(await attach(owner, 'receive', 'reply.cpectl.abc'), 'ok');
    const thief = await as('alice');
    assert.equal(await attach(thief, 'receive', 'reply.cpectl.abc'), 'amqp:unauthorized-access');
    const again = await as('client');
    assert.equal(await attach(again, 'receive', 'reply.cpectl.abc'), 'ok', 'the same user again');
    owner.close();
    again.close();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await attach(thief, 'receive', 'reply.cpectl.abc'), 'ok', 'free once let go');
  });

  it('counts what it refused', () => {
    assert.ok(router.stats.unauthorized > 0);
  });
});
