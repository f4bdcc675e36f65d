/**
 * The loop closed, with real processes: a CPE (embedded router, DPEs as
 * child processes), its DPE, and simulated agents in their own process,
 * driven through the agents' fault injector as an operator would with
 * cpectl fault. Each test reads the events the DPE published and what the
 * simulated assemblies actually run.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { subscribeEvents } from '../../lib/bus/events.js';
import { qmfText, type BusEvent, type QmfMap } from '../../lib/bus/qmf.js';
import { simulateCommand } from '../../cli/simulate.js';
import type { AgentsProcess } from '../support/agents.js';
import { rabbitmq, restartRabbitMq, until } from '../support/bus.js';
import type { CpeClient, CpeProcess } from '../support/cpe.js';
import { runCommands } from '../support/cpectl.js';
import { simConfig, startLoop, waitFor, type Loop } from '../support/dpe.js';

const ASSEMBLIES = ['a1', 'a2', 'a3', 'a4'];

describe('the DPE at work (real CPE, DPE and simulated agents; embedded router)', function () {
  this.timeout(120_000);
  const name = 'loop';
  let loop: Loop;
  let cpe: CpeProcess;
  let api: CpeClient;
  let agents: AgentsProcess;
  let recoveryLog: string;
  const events: BusEvent[] = [];

  const since = (mark: number): BusEvent[] => events.slice(mark);
  const actions = (list: readonly BusEvent[], phase: string, ...types: string[]): BusEvent[] =>
    list.filter(
      (e) =>
        e.name === `action_${phase}` &&
        (types.length === 0 || types.includes(qmfText(e.values.type))),
    );
  const status = (): Promise<QmfMap> => api.call('deployable_status', { name });
  const placement = async (): Promise<Record<string, string | null>> =>
    Object.fromEntries(
      ((await status()).services as QmfMap[]).map((s) => [
        qmfText(s.id),
        s.assembly as string | null,
      ]),
    );

  before(async () => {
    loop = await startLoop({
      name,
      xml: (dir) => simConfig(name, join(dir, 'recover-assembly')),
      // DPEs read the same settings file: silence counts 2 s after the bus returns.
      settings: (dir) => {
        recoveryLog = join(dir, 'recovery.log');
        const script = join(dir, 'recover-assembly');
        writeFileSync(
          script,
          `#!/bin/sh\necho "$1 $2 $3 $4 $CPE_RECOVERY_ACTION $CPE_RECOVERY_ASSEMBLY_UUID" >> ${recoveryLog}\n`,
        );
        chmodSync(script, 0o755);
        return { recovery: { commands: script }, dpe: { agentReconnectMs: 2000 } };
      },
      beforeCreate: async (client) =>
        void (await subscribeEvents(client.bus, 'cpe.events', (e) => events.push(e), {
          values: { deployable: name },
        }).ready),
    });
    ({ cpe, api } = loop);
    agents = loop.agents!;
  });

  after(() => loop?.close());

  it('starts every service at home and reports each assembly and service', async () => {
    const s = await waitFor(status, (x) => x.state === 'running', 30_000, 'the deployable running');
    const assemblies = s.assemblies as QmfMap[];
    assert.deepEqual(
      assemblies.map((a) => [a.name, a.health, a.missed_beats]),
      ASSEMBLIES.map((a) => [a, 'up', 0]),
    );
    assert.ok(
      assemblies.every((a) => a.last_heartbeat instanceof Date && typeof a.epoch === 'string'),
    );
    // What the agents report of themselves: memory and CPUs for placement.
    assert.deepEqual(
      { ...(assemblies[0]!.metrics as QmfMap), load1: 0 },
      {
        load1: 0,
        memoryFreeMb: (assemblies[0]!.metrics as QmfMap).memoryFreeMb,
        memoryTotalMb: 4096,
        cpus: 2,
      },
    );
    assert.deepEqual(await placement(), { rsc_a1_web: 'a1', rsc_a2_app: 'a2', rsc_a3_db: 'a3' });
    assert.deepEqual((await agents.census(ASSEMBLIES)).running, [
      'rsc_a1_web@a1',
      'rsc_a2_app@a2',
      'rsc_a3_db@a3',
    ]);
    // Every event carries its own id.
    const ids = events.map((e) => e.values.id); // the CPE's and the DPE's
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(ids.every((id) => typeof id === 'string' && id.length > 0));
    assert.ok(
      events.some((e) => e.name === 'deployable_state_change' && e.values.state === 'running'),
    );
  });

  it("refuses a config whose recovery command the host's settings do not allow", async () => {
    await assert.rejects(
      api.call('deployable_create', { name: 'evil', config: simConfig('evil', '/usr/bin/evil') }),
      {
        code: 'RECOVERY_COMMAND_NOT_ALLOWED',
        message: /recovery command \/usr\/bin\/evil is not allowed/,
      },
    );
    const list = (await api.call('deployable_list')).deployables as QmfMap[];
    assert.deepEqual(
      list.map((d) => d.name),
      [name],
    );
  });

  it('restarts a failed service in place, and says why', async () => {
    const mark = events.length;
    await agents.fault('a1', 'fail', { resource: 'rsc_a1_web', mode: 'once' });
    await until(() => actions(since(mark), 'finished', 'restart').length > 0, 15_000, 'a restart');
    const later = since(mark);
    const failed = later.find(
      (e) => e.name === 'service_state_change' && e.values.state === 'failed',
    );
    assert.match(qmfText(failed?.values.reason), /monitor on a1: rc 7/);
    const started = actions(later, 'started', 'restart')[0]!;
    assert.equal(started.values.rule, 'restart-failed-service');
    assert.equal(started.values.service, 'rsc_a1_web');
    assert.match(qmfText(started.values.reason), /rsc_a1_web failed on a1: restart it there/);
    assert.equal((await agents.services('a1')).find((x) => x.resource === 'rsc_a1_web')!.starts, 2);
  });

  it('asks a restarted agent what it runs, and restarts nothing', async () => {
    const before = await agents.census(ASSEMBLIES);
    const epoch = ((await status()).assemblies as QmfMap[]).find((a) => a.name === 'a2')!.epoch;
    const mark = events.length;
    await agents.fault('a2', 'restart');
    await waitFor(
      status,
      (s) => (s.assemblies as QmfMap[]).find((a) => a.name === 'a2')!.epoch !== epoch,
      10_000,
      'the new session taken',
    );
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(actions(since(mark), 'started', 'start', 'restart', 'move', 'stop'), []);
    assert.deepEqual(await agents.census(ASSEMBLIES), before);
  });

  it('restarts nothing when its DPE is killed with SIGKILL and comes back', async () => {
    const before = await agents.census(ASSEMBLIES);
    const pid = Number((await status()).dpe_pid);
    const mark = events.length;
    process.kill(pid, 'SIGKILL');
    await api.waitReady(name, 1, { notPid: pid, context: () => cpe.output });
    await waitFor(status, (s) => s.state === 'running', 20_000, 'the new DPE to see it running');
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual(actions(since(mark), 'started', 'start', 'restart', 'move', 'stop'), []);
    assert.deepEqual(await agents.census(ASSEMBLIES), before);
  });

  it('moves the services of an assembly that stopped beating, and calls its recovery driver', async () => {
    const mark = events.length;
    await agents.fault('a1', 'heartbeat', { enabled: false });
    const moved = await waitFor(
      placement,
      (p) => p.rsc_a1_web !== 'a1' && p.rsc_a1_web !== null,
      20_000,
      'the move',
    );
    // Events reach the topic through the CPE's event log: a moment after the status shows the move.
    await until(
      () => actions(since(mark), 'finished', 'move').length > 0,
      10_000,
      'the move event',
    );
    const later = since(mark);
    const down = later.find((e) => e.name === 'assembly_state_change' && e.values.state === 'down');
    assert.equal(down?.values.assembly, 'a1');
    assert.match(
      qmfText(down?.values.reason),
      /missed 3 heartbeats \(interval 500 ms, down after 3\)/,
    );
    const move = actions(later, 'finished', 'move')[0]!;
    assert.equal(move.values.to, moved.rsc_a1_web);
    assert.equal(move.values.rule, 'move-service-off-lost-assembly');
    await until(
      () => existsSync(recoveryLog) && /^recover /m.test(readFileSync(recoveryLog, 'utf8')),
      10_000,
      'the recovery command',
    );
    assert.match(
      readFileSync(recoveryLog, 'utf8'),
      new RegExp(`^recover ${name} a1 uuid-a1 recover uuid-a1$`, 'm'),
    );
  });

  it('starts a never-twice service elsewhere only after its assembly is fenced', async () => {
    const mark = events.length;
    await agents.fault('a3', 'partition', { enabled: true });
    await waitFor(
      placement,
      (p) => p.rsc_a3_db !== 'a3' && p.rsc_a3_db !== null,
      20_000,
      'the move of db',
    );
    const later = since(mark);
    const fenced = later.findIndex(
      (e) =>
        e.name === 'action_finished' &&
        e.values.type === 'fence-assembly' &&
        e.values.assembly === 'a3',
    );
    const move = later.findIndex(
      (e) =>
        e.name === 'action_started' && e.values.type === 'move' && e.values.service === 'rsc_a3_db',
    );
    assert.ok(fenced >= 0 && move > fenced, 'the move starts after the fence is done');
    assert.match(
      readFileSync(recoveryLog, 'utf8'),
      new RegExp(`^fence ${name} a3 uuid-a3 fence uuid-a3$`, 'm'),
    );
  });

  it('escalates a service that keeps failing to its assembly, and moves it', async () => {
    const mark = events.length;
    await agents.fault('a2', 'fail', { resource: 'rsc_a2_app', mode: 'always' });
    const moved = await waitFor(
      placement,
      (p) => p.rsc_a2_app !== 'a2' && p.rsc_a2_app !== null,
      30_000,
      'the move of app',
    );
    const later = since(mark);
    const escalated = actions(later, 'finished', 'escalate')[0];
    assert.equal(escalated?.values.level, 'assembly');
    assert.equal(escalated?.values.rule, 'escalate-service-to-assembly');
    assert.match(
      qmfText(escalated?.values.reason),
      /rsc_a2_app failed twice within \d+ ms: escalate to assembly a2/,
    );
    // The restart's start fails too: that is the second failure, which escalates.
    assert.equal(actions(later, 'failed', 'restart').length, 1, 'one restart, then escalation');
    assert.match(readFileSync(recoveryLog, 'utf8'), new RegExp(`^recover ${name} a2 uuid-a2`, 'm'));
    assert.ok(
      (await agents.services(moved.rsc_a2_app!)).some(
        (x) => x.resource === 'rsc_a2_app' && x.state === 'running',
      ),
    );
  });

  it('moves nothing when the CPE (and its embedded router) is killed and restarted', async () => {
    const before = await agents.census(ASSEMBLIES);
    const placed = await placement();
    await cpe.kill9();
    await new Promise((r) => setTimeout(r, 1000));
    await cpe.start();
    await waitFor(status, (s) => s.state !== null && s.dpe_ready === true, 30_000, 'the DPE back');
    // Long enough for any assembly to be declared down: 2 s grace + 3 × 500 ms, and more.
    await new Promise((r) => setTimeout(r, 5000));
    assert.deepEqual(await agents.census(ASSEMBLIES), before);
    assert.deepEqual(await placement(), placed);
  });

  it('saves the inputs of its plans, and cpectl simulate replays each to the same plan', async () => {
    const dir = join(cpe.stateDir, 'dpe', name);
    const inputs = readdirSync(dir).filter((f) => /^pe-\d+\.json$/.test(f));
    assert.ok(inputs.length >= 5, `only ${inputs.length} saved inputs`);
    for (const f of inputs) {
      const r = await runCommands([simulateCommand], ['simulate', '--json', join(dir, f)]);
      assert.equal(r.code, 0, r.stderr);
      const replayed = JSON.stringify((JSON.parse(r.stdout) as { plan: unknown }).plan, null, 2);
      assert.equal(
        `${replayed}\n`,
        readFileSync(join(dir, f.replace('.json', '.plan.json')), 'utf8'),
        f,
      );
    }
  });
});

describe('the DPE through RabbitMQ (real broker, CPE, DPE and simulated agents)', function () {
  this.timeout(240_000);
  // Names are the test's own: the broker is shared with whatever else runs on it.
  const name = `rmq-${process.pid}`;
  let loop: Loop | undefined;
  let api: CpeClient;
  let agents: AgentsProcess;

  const status = (): Promise<QmfMap> => api.call('deployable_status', { name });

  before(async function () {
    const transport = await rabbitmq(this);
    loop = await startLoop({
      name,
      xml: () => simConfig(name, '/bin/true'),
      settings: () => ({ recovery: { commands: '/bin/true' } }),
      broker: { url: transport.url, profile: 'rabbitmq' },
    });
    ({ api } = loop);
    agents = loop.agents!;
  });

  after(() => loop?.close());

  it('runs the deployable, and a broker restart moves and restarts nothing', async () => {
    await waitFor(status, (s) => s.state === 'running', 60_000, 'the deployable running');
    const before = await agents.census(ASSEMBLIES);
    assert.equal(before.running.length, 3);
    await restartRabbitMq();
    // Every daemon reconnects with its backoff; the DPE gives agents 10 s before silence counts.
    await waitFor(status, (s) => s.state === 'running', 60_000, 'the deployable running again');
    await new Promise((r) => setTimeout(r, 13_000));
    assert.deepEqual(await agents.census(ASSEMBLIES), before);
    const s = await status();
    assert.equal(s.state, 'running', JSON.stringify(s));
  });
});
