/**
 * The RabbitMQ permissions schemas/messages.md gives ("Identities", "On
 * RabbitMQ"), read from the document and set with rabbitmqctl on the real
 * broker: each identity gets its own routing keys on amq.topic (profile
 * rabbitmq-topic), and RabbitMQ itself refuses what they do not allow.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bus } from '../../../lib/bus/bus.js';
import { MethodClient } from '../../../lib/bus/client.js';
import { MethodServer } from '../../../lib/bus/server.js';
import { silentLogger } from '../../../lib/log.js';
import { packageRoot } from '../../../lib/paths.js';
import { connect, rabbitmq, requireOrSkip, type Transport } from '../../support/bus.js';

const logger = silentLogger();
const D = 'rqtest';

/** The table's rows: user pattern → [WRITE, READ], as the document has them. */
function documentedPermissions(): Map<string, [string, string]> {
  const doc = readFileSync(join(packageRoot(), 'schemas', 'messages.md'), 'utf8');
  const section = doc.slice(doc.indexOf('### On RabbitMQ'), doc.indexOf('## Delivery and limits'));
  const rows = new Map<string, [string, string]>();
  for (const line of section.split('\n')) {
    const cells = line
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((c) => c.trim().replace(/^`|`$/g, '').replace(/\\\|/g, '|'));
    if (cells.length === 3 && cells[0] !== 'user' && !/^-+$/.test(cells[0]!))
      rows.set(cells[0]!, [cells[1]!, cells[2]!]);
  }
  return rows;
}

function rabbitmqctl(...args: string[]): string {
  return execFileSync('rabbitmqctl', args, { encoding: 'utf8', stdio: 'pipe' });
}

describe('RabbitMQ with one user per identity (profile rabbitmq-topic)', function () {
  this.timeout(120_000);
  let broker: Transport;
  const users = new Map<string, string>();
  const buses: Bus[] = [];

  const as = async (user: string | undefined): Promise<Bus> => {
    const url = new URL(broker.url);
    if (user) {
      url.username = user;
      url.password = users.get(user)!;
    }
    const bus = connect(
      { ...broker, url: url.toString(), profile: 'rabbitmq-topic' },
      user ?? 'guest',
    );
    buses.push(bus);
    await bus.whenUp(10_000);
    return bus;
  };

  /** Whether a receiving link to `name` attaches within 2 s (RabbitMQ refuses a bind it does not allow). */
  const canReceive = async (bus: Bus, kind: 'node' | 'topic', name: string): Promise<boolean> => {
    const sub = bus.receive({ kind, name }, () => undefined);
    const ok = await Promise.race([
      sub.ready.then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((r) => setTimeout(() => r(false), 2000)),
    ]);
    sub.close();
    return ok;
  };

  before(async function () {
    broker = await rabbitmq(this);
    let why: string | undefined;
    try {
      rabbitmqctl('list_users');
    } catch (err) {
      why = `rabbitmqctl cannot run here: ${(err as Error).message.split('\n')[0]}`;
    }
    requireOrSkip(this, 'rabbitmqctl', why);
    const table = documentedPermissions();
    const rows: [string, string][] = [
      [`dpe.${D}`, 'dpe.<d>'],
      [`agent.${D}.a1`, 'agent.<d>.<a>'],
      ['cpectl-rqtest', 'client'],
    ];
    for (const [user, row] of rows) {
      const [write, read] = table.get(row) ?? assert.fail(`messages.md has no row ${row}`);
      const password = randomBytes(12).toString('hex');
      users.set(user, password);
      try {
        rabbitmqctl('add_user', user, password);
      } catch {
        rabbitmqctl('change_password', user, password);
      }
      rabbitmqctl(
        'set_permissions',
        '-p',
        '/',
        user,
        '^amq\\.gen.*',
        '^amq\\.gen.*|^amq\\.topic$',
        '^amq\\.gen.*|^amq\\.topic$',
      );
      const fill = (p: string): string => p.replaceAll('<d>', D).replaceAll('<a>', 'a1');
      rabbitmqctl('set_topic_permissions', '-p', '/', user, 'amq.topic', fill(write), fill(read));
    }
  });

  after(async () => {
    for (const bus of buses) await bus.close();
    for (const user of users.keys()) {
      try {
        rabbitmqctl('delete_user', user);
      } catch {
        // already gone
      }
    }
  });

  it("lets a client call the CPE but not receive the CPE's calls", async () => {
    const cpe = await as(undefined); // guest: all of it, as the cpe row says
    const server = new MethodServer(cpe, {
      address: 'cpe',
      logger,
      objects: {
        cpe: { echo: { args: { v: { type: 'any' } }, handler: (a) => ({ v: a.v ?? null }) } },
      },
    });
    await server.start();
    const client = await as('cpectl-rqtest');
    const calls = new MethodClient(client, { name: 'cpectl', logger, defaultTimeoutMs: 10_000 });
    assert.deepEqual(await calls.call({ address: 'cpe', object: 'cpe' }, 'echo', { v: 7 }), {
      v: 7,
    });
    calls.close();
    server.close();
    assert.equal(await canReceive(await as('cpectl-rqtest'), 'node', 'cpe'), false);
  });

  it('lets a DPE serve and listen as itself only', async () => {
    const dpe = await as(`dpe.${D}`);
    assert.equal(await canReceive(dpe, 'node', `dpe.${D}`), true);
    assert.equal(await canReceive(await as(`dpe.${D}`), 'topic', `cpe.heartbeats.${D}`), true);
    assert.equal(await canReceive(await as(`dpe.${D}`), 'topic', 'cpe.events'), true);
    assert.equal(await canReceive(await as(`dpe.${D}`), 'node', 'dpe.other'), false);
    assert.equal(await canReceive(await as(`dpe.${D}`), 'node', 'cpe'), false);
  });

  it("lets an agent beat on its deployable's topic only, whatever user-id it claims there", async () => {
    const watcher = await as(undefined);
    const seen: string[] = [];
    for (const topic of [`cpe.heartbeats.${D}`, 'cpe.heartbeats.other'])
      await watcher.receive({ kind: 'topic', name: topic }, (m) =>
        seen.push(`${topic} ${String(m.body)}`),
      ).ready;
    const agent = await as(`agent.${D}.a1`);
    assert.equal(await canReceive(await as(`agent.${D}.a1`), 'node', `agent.${D}.a1`), true);
    assert.equal(await canReceive(await as(`agent.${D}.a1`), 'node', 'cpe'), false);
    const send = (bus: Bus, topic: string, body: string, userId?: string): void => {
      const message = bus.sign<{ body: string; user_id?: string }>({ body });
      if (userId) message.user_id = Buffer.from(userId) as unknown as string;
      bus.post(bus.sender('topic', topic, true), message);
    };
    send(agent, `cpe.heartbeats.${D}`, 'own');
    send(await as(`agent.${D}.a1`), 'cpe.heartbeats.other', 'other topic');
    send(await as(`agent.${D}.a1`), `cpe.heartbeats.${D}`, 'forged', `dpe.${D}`);
    await new Promise((r) => setTimeout(r, 1500));
    // Its own topic only. RabbitMQ 3.x's AMQP 1.0 plugin does not check the user-id
    // (messages.md says so): the forged one goes through, as the document warns.
    assert.deepEqual(seen.sort(), [`cpe.heartbeats.${D} forged`, `cpe.heartbeats.${D} own`]);
  });
});
