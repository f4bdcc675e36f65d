/**
 * Software written for the original (pacemaker-cloud 0.4–0.6) against a
 * real CPE, its DPE and simulated agents: pcloudsh's config hand-off and
 * calls with `monitor`, discovery by the original's QMF package, and the
 * original's events, in its words, on cpe.events.original.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import rhea, { type EventContext, type Message } from 'rhea';
import { ORIGINAL_EVENTS } from '../../lib/addresses.js';
import { parseEvents, qmfText, type BusEvent, type QmfMap } from '../../lib/bus/qmf.js';
import type { AgentsProcess } from '../support/agents.js';
import { startCommand, stopCommand } from '../../cli/deployable.js';
import { until } from '../support/bus.js';
import { runCommands } from '../support/cpectl.js';
import type { CpeClient } from '../support/cpe.js';
import { startLoop, waitFor, type Loop } from '../support/dpe.js';

/** As pcloudsh 0.6 wrote it to /var/run/NAME.xml: uuid = name, a unit template as monitor. */
function pcloudshConfig(name: string, uuid = name): string {
  return `<?xml version="1.0"?>
<deployable name="${name}" uuid="${uuid}" monitor="pcloud-cape-sshd" username="me@example.com">
  <assemblies>
    <assembly name="web" uuid="uuid-web" escalation_failures="3" escalation_period="60">
      <services>
        <service name="httpd" provider="pacemaker" class="lsb" type="httpd" monitor_interval="1s" escalation_failures="3" escalation_period="1m"/>
      </services>
    </assembly>
    <assembly name="db" uuid="uuid-db">
      <services>
        <service name="mysqld" monitor_interval="1s"/>
      </services>
    </assembly>
  </assemblies>
  <constraints/>
</deployable>
`;
}

/** One QMFv2 `_query_request` to node `cpe`, as a raw AMQP client: the answer's properties and body. */
async function query(url: string, body: QmfMap): Promise<Message> {
  const u = new URL(url);
  const container = rhea.create_container({ id: 'test-original-query' });
  const connection = container.connect({
    host: u.hostname,
    port: Number(u.port),
    reconnect: false,
    username: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
  });
  try {
    return await new Promise<Message>((resolve, reject) => {
      connection.once('disconnected', () => reject(new Error('disconnected')));
      const receiver = connection.open_receiver({ source: { address: '', dynamic: true } });
      receiver.once('message', (ctx: EventContext) => resolve(ctx.message!));
      receiver.once('receiver_open', () => {
        const sender = connection.open_sender({ target: 'cpe' });
        sender.once('sendable', () =>
          sender.send({
            reply_to: receiver.source.address,
            correlation_id: 'q1',
            application_properties: {
              'x-amqp-0-10.app-id': 'qmf2',
              'qmf.opcode': '_query_request',
              method: 'request',
            },
            body,
          }),
        );
      });
    });
  } finally {
    connection.close();
  }
}

describe('a drop-in for the original: its config hand-off, calls and events (real CPE, DPE, agents)', function () {
  this.timeout(120_000);
  const name = 'orig';
  let loop: Loop;
  let api: CpeClient;
  let agents: AgentsProcess;
  let handoff: string;
  const original: BusEvent[] = [];
  const packages = new Set<string>();
  let started: QmfMap = {};

  /** [class, assembly, service, state, reason] of the original events since `from`, as pcloudsh read them. */
  const told = (from = 0): string[][] =>
    original
      .slice(from)
      .map((e) =>
        [e.name, e.values.assembly, e.values.service, e.values.state, e.values.reason].map((v) =>
          qmfText(v),
        ),
      );
  const heard = (from: number, ...want: string[][]): Promise<void> =>
    until(
      () => want.every((w) => told(from).some((t) => w.every((x, i) => x === '*' || x === t[i]))),
      60_000,
      `${JSON.stringify(want)} among ${JSON.stringify(told(from))}`,
    );

  before(async () => {
    loop = await startLoop({
      name,
      xml: () => pcloudshConfig(name),
      settings: (dir) => {
        handoff = join(dir, 'run');
        return { original: { configDir: handoff } };
      },
      beforeCreate: async (client) => {
        await client.bus.receive({ kind: 'topic', name: ORIGINAL_EVENTS }, (message) => {
          const schema = (message.body as { _schema_id?: { _package_name?: string } })._schema_id;
          packages.add(String(schema?._package_name));
          const events = parseEvents(message);
          if (Array.isArray(events)) original.push(...events);
        }).ready;
      },
      // pcloudsh: write /var/run/UUID.xml, then deployable_start(name, uuid, monitor).
      create: async (client, xml) => {
        mkdirSync(handoff, { recursive: true });
        writeFileSync(join(handoff, `${name}.xml`), xml);
        started = await client.call('deployable_start', {
          name,
          uuid: name,
          monitor: 'pcloud-cape-sshd',
        });
      },
    });
    ({ api } = loop);
    agents = loop.agents!;
  });

  after(() => loop?.close());

  it('starts a deployable it never stored from the hand-off file, with monitor', async () => {
    assert.deepEqual(started, { rc: 0 });
    const c = await api.call('deployable_config', { name });
    assert.equal(c.uuid, name);
    assert.equal(c.config, pcloudshConfig(name));
    await waitFor(
      () => api.call('deployable_status', { name }),
      (s) => s.state === 'running',
      60_000,
      'the deployable running',
    );
  });

  it("raises the original's events in its package, with the dped's values and reasons", async () => {
    await heard(
      0,
      ['assembly_state_change', 'web', '', 'running', 'All good'],
      ['assembly_state_change', 'db', '', 'running', 'All good'],
      ['service_state_change', 'web', 'httpd', 'running', 'Started OK'],
      ['service_state_change', 'db', 'mysqld', 'running', 'Started OK'],
      ['deployable_state_change', '', '', 'running', 'all assemblies active'],
    );
    assert.deepEqual([...packages], ['org.pacemakercloud']);
    // The dped named the deployable by its uuid (pcloudsh: the same as its name).
    assert.ok(original.every((e) => e.values.deployable === name));
  });

  it('tells a failed service as pcloudsh expects: "monitor failed", recovering, started, all active', async () => {
    await heard(0, ['deployable_state_change', '', '', 'running', 'all assemblies active']);
    const mark = original.length;
    await agents.fault('web', 'fail', { resource: 'rsc_web_httpd', mode: 'once' });
    await heard(
      mark,
      ['service_state_change', 'web', 'httpd', 'failed', 'monitor failed'],
      ['deployable_state_change', '', '', 'recovering', 'change in assembly state'],
      ['service_state_change', 'web', 'httpd', 'running', 'Started OK'],
    );
    await heard(
      original.findIndex((e, i) => i >= mark && e.values.reason === 'change in assembly state'),
      ['deployable_state_change', '', '', 'running', 'all assemblies active'],
    );
    // In that order: failed, then recovering, then running again.
    const reasons = told(mark)
      .map((t) => t[4])
      .filter((r) =>
        ['monitor failed', 'change in assembly state', 'all assemblies active'].includes(r!),
      );
    assert.deepEqual(reasons, [
      'monitor failed',
      'change in assembly state',
      'all assemblies active',
    ]);
  });

  it('is found by the original package and class, as pcloudsh queried: {class:cpe, package:org.pacemakercloud}', async () => {
    const r = await query(loop.cpe.url, {
      _what: 'OBJECT',
      _schema_id: { _class_name: 'cpe', _package_name: 'org.pacemakercloud' },
    });
    assert.equal(r.application_properties?.['qmf.opcode'], '_query_response');
    assert.equal(r.application_properties?.['qmf.content'], '_data');
    assert.equal(r.correlation_id, 'q1');
    assert.deepEqual(r.body, [
      {
        _object_id: { _object_name: 'cpe' },
        _schema_id: { _package_name: 'org.pacemakercloud', _class_name: 'cpe', _type: '_data' },
        _values: {},
      },
    ]);
    const ours = await query(loop.cpe.url, {
      _what: 'OBJECT_ID',
      _schema_id: { _class_name: 'cpe' },
    });
    assert.deepEqual(ours.body, [{ _object_name: 'cpe' }]);
    const none = await query(loop.cpe.url, {
      _what: 'OBJECT',
      _schema_id: { _class_name: 'dpe', _package_name: 'org.pacemakercloud' },
    });
    assert.deepEqual(none.body, []);
    const bad = await query(loop.cpe.url, { _what: 'OBJECT', _where: ['eq', 'x', 1] });
    assert.equal(bad.application_properties?.['qmf.opcode'], '_exception');
    const error = (bad.body as { _values: QmfMap })._values;
    assert.equal(error.error_code, 'MALFORMED_MESSAGE');
    assert.match(qmfText(error.error_text), /_where/);
  });

  it('takes monitor on start, stop and reload: the mode or the unit template must agree, and it must be a name', async () => {
    const call = (method: string, monitor: string): Promise<QmfMap> =>
      api.call(method, { name, uuid: name, monitor });
    assert.deepEqual(await call('deployable_start', 'active'), { rc: 0 });
    assert.equal((await call('deployable_start', 'passive')).rc, 22);
    const other = await call('deployable_start', 'pcloud-dped');
    assert.equal(other.rc, 22);
    assert.match(qmfText(other.reason), /monitor differently from pcloud-dped/);
    await assert.rejects(call('deployable_start', '../dped'), { code: 'BAD_ARGUMENT' });
    await assert.rejects(call('deployable_stop', 'a b'), { code: 'BAD_ARGUMENT' });
    assert.deepEqual(await call('deployable_reload', 'pcloud-cape-sshd'), { rc: 0 });
    assert.deepEqual(await call('deployable_stop', 'pcloud-cape-sshd'), { rc: 0 });
    assert.equal((await api.call('deployable_status', { name })).desired, 'stopped');
    assert.deepEqual(await call('deployable_start', 'pcloud-cape-sshd'), { rc: 0 });
  });

  it('answers a start it cannot take from the hand-off with 2 or 22 and says why, storing nothing', async () => {
    const start = (n: string, uuid = n): Promise<QmfMap> =>
      api.call('deployable_start', { name: n, uuid, monitor: 'pcloud-cape-sshd' });
    const none = await start('nothing');
    assert.equal(none.rc, 2);
    assert.equal(
      none.reason,
      `no deployable named "nothing", and no config at ${handoff}/nothing.xml`,
    );
    assert.equal((await start('x', '..')).rc, 22);
    assert.match(qmfText((await start('x', '.hidden')).reason), /cannot name a file/);
    writeFileSync(join(handoff, 'broken.xml'), '<deployable name="broken"');
    const broken = await start('broken');
    assert.equal(broken.rc, 22);
    assert.match(qmfText(broken.reason), /CONFIG_MALFORMED/);
    writeFileSync(join(handoff, 'elsewhere.xml'), pcloudshConfig('other', 'elsewhere'));
    assert.match(qmfText((await start('elsewhere')).reason), /names deployable "other"/);
    writeFileSync(join(handoff, 'u2.xml'), pcloudshConfig('mismatch', 'u1'));
    assert.match(qmfText((await start('mismatch', 'u2')).reason), /has uuid "u1", not "u2"/);
    symlinkSync(join(handoff, `${name}.xml`), join(handoff, 'linked.xml'));
    assert.match(qmfText((await start('linked')).reason), /symbolic link/);
    execFileSync('mkfifo', [join(handoff, 'fifo.xml')]);
    assert.match(qmfText((await start('fifo')).reason), /not a regular file/);
    const list = (await api.call('deployable_list')).deployables as QmfMap[];
    assert.deepEqual(
      list.map((d) => d.name),
      [name],
    );
  });

  it('takes the hand-off from cpectl too: start --uuid --monitor', async () => {
    writeFileSync(join(handoff, 'second.xml'), pcloudshConfig('second'));
    const cpectl = (...args: string[]) =>
      runCommands(
        [startCommand, stopCommand],
        [args[0]!, '--config', loop.cpe.settingsFile, '--bus-url', loop.cpe.url, ...args.slice(1)],
      );
    const r = await cpectl('start', '--uuid', 'second', '--monitor', 'pcloud-cape-sshd', 'second');
    assert.deepEqual(r, { code: 0, stdout: 'second: running\n', stderr: '' });
    assert.equal((await api.call('deployable_config', { name: 'second' })).uuid, 'second');
    const none = await cpectl('start', '--uuid', 'third', 'third');
    assert.equal(none.code, 1);
    assert.match(
      none.stderr,
      /^cpectl start: third: rc 2 no deployable named "third", and no config at /,
    );
    assert.deepEqual(await cpectl('stop', '--monitor', 'pcloud-cape-sshd', 'second'), {
      code: 0,
      stdout: 'second: stopped\n',
      stderr: '',
    });
    await api.call('deployable_destroy', { name: 'second' });
  });
});
