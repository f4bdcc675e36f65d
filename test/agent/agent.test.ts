/**
 * Real agents closing the loop: a CPE (embedded router), its DPE, and one
 * `cpe-agent` process per assembly running Debian's ocf:heartbeat:Dummy,
 * the fixtures' Flaky agent and an LSB init script. Faults are real: a
 * resource's state file removed, starts refused, an agent killed.
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subscribeEvents } from '../../lib/bus/events.js';
import { qmfText, type BusEvent, type QmfMap } from '../../lib/bus/qmf.js';
import { startLoop, waitFor, type Loop } from '../support/dpe.js';
import {
  rscTmpOf,
  startRealAgents,
  requireResourceAgents,
  testOcfRoot,
  type RealAgent,
} from '../support/real-agent.js';

const ASSEMBLIES = ['a1', 'a2', 'a3', 'a4'];

/**
 * Beats every 500 ms, down after 5 s: an agent killed and started again must
 * come back within the deadline, and a Node process's start under CI load
 * can take more than the 1.5 s of three beats.
 */
function config(name: string, recovery: string, control: string): string {
  const op = 'monitor_interval="500ms" timeout="5s"';
  return `<?xml version="1.0" encoding="UTF-8"?>
<deployable name="${name}" uuid="uuid-${name}" schema_version="2">
  <heartbeat interval="500ms" missed="10"/>
  <recovery driver="command" command="${recovery}" timeout="10s"/>
  <assemblies>
    <assembly name="a1" uuid="uuid-a1">
      <services>
        <service name="dummy" class="ocf" provider="heartbeat" type="Dummy" ${op}/>
      </services>
    </assembly>
    <assembly name="a2" uuid="uuid-a2">
      <services>
        <service name="flaky" class="ocf" provider="cpetest" type="Flaky" ${op} escalation_failures="2" escalation_period="1m">
          <parameters><parameter name="control" value="${control}"/></parameters>
        </service>
      </services>
    </assembly>
    <assembly name="a3" uuid="uuid-a3">
      <services>
        <service name="initd" class="lsb" type="cpe-test-lsb" ${op}/>
      </services>
    </assembly>
    <assembly name="a4" uuid="uuid-a4"/>
  </assemblies>
</deployable>
`;
}

describe('real agents (OCF and LSB) with a real DPE', function () {
  this.timeout(120_000);
  const name = 'realag';
  let loop: Loop;
  let dir: string;
  let control: string;
  let recoveryLog: string;
  const agents = new Map<string, RealAgent>();
  const events: BusEvent[] = [];

  const rscTmp = (assembly: string): string => rscTmpOf(dir, assembly);
  const status = (): Promise<QmfMap> => loop.api.call('deployable_status', { name });
  const services = async (): Promise<Record<string, QmfMap>> =>
    Object.fromEntries(((await status()).services as QmfMap[]).map((s) => [qmfText(s.id), s]));
  const since = (mark: number, event: string, type?: string): BusEvent[] =>
    events
      .slice(mark)
      .filter((e) => e.name === event && (type === undefined || e.values.type === type));

  before(async function () {
    requireResourceAgents(this);
    dir = mkdtempSync(join(tmpdir(), 'cpe-real-agents-'));
    control = join(dir, 'flaky');
    const ocfRoot = testOcfRoot();
    loop = await startLoop({
      name,
      agents: false,
      xml: (state) => config(name, join(state, 'recover'), control),
      settings: (state) => {
        recoveryLog = join(state, 'recovery.log');
        writeFileSync(join(state, 'recover'), `#!/bin/sh\necho "$1 $3" >> ${recoveryLog}\n`);
        chmodSync(join(state, 'recover'), 0o755);
        return { recovery: { commands: join(state, 'recover') }, dpe: { agentReconnectMs: 2000 } };
      },
      beforeCreate: async (api, cpe) => {
        void (await subscribeEvents(api.bus, 'cpe.events', (e) => events.push(e), {
          values: { deployable: name },
        }).ready);
        mkdirSync(control, { recursive: true });
        await startRealAgents(ASSEMBLIES, { deployable: name, cpe, dir, ocfRoot }, agents);
      },
    });
  });

  after(async () => {
    await loop?.close();
    for (const a of agents.values()) await a.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('starts every service through its class, and reports the hosts', async () => {
    const s = await waitFor(status, (x) => x.state === 'running', 30_000, 'the deployable running');
    const placed = Object.fromEntries(
      (s.services as QmfMap[]).map((x) => [qmfText(x.id), x.assembly]),
    );
    assert.deepEqual(placed, { rsc_a1_dummy: 'a1', rsc_a2_flaky: 'a2', rsc_a3_initd: 'a3' });
    assert.ok(existsSync(join(rscTmp('a1'), 'Dummy-rsc_a1_dummy.state')));
    assert.ok(existsSync(join(rscTmp('a2'), 'Flaky-rsc_a2_flaky.state')));
    assert.ok(existsSync(join(rscTmp('a3'), 'cpe-test-lsb.pid')));
    const a1 = (s.assemblies as QmfMap[])[0]!;
    const m = a1.metrics as QmfMap;
    assert.ok(Number(m.cpus) >= 1 && Number(m.memoryTotalMb) > 0, JSON.stringify(m));
    for (const [code, text] of [[0, 'exit']] as const) (void code, void text);
  });

  it("restarts Debian's Dummy when its resource fails", async () => {
    const mark = events.length;
    rmSync(join(rscTmp('a1'), 'Dummy-rsc_a1_dummy.state'));
    await waitFor(
      () => Promise.resolve(since(mark, 'action_finished', 'restart')),
      (l) => l.some((e) => e.values.service === 'rsc_a1_dummy'),
      20_000,
      'the restart of dummy',
    );
    assert.ok(existsSync(join(rscTmp('a1'), 'Dummy-rsc_a1_dummy.state')), 'Dummy runs again');
    assert.equal((await services()).rsc_a1_dummy?.assembly, 'a1');
  });

  it('escalates a resource whose starts keep failing, and moves it', async () => {
    const mark = events.length;
    writeFileSync(join(control, 'fail-start'), '2');
    rmSync(join(rscTmp('a2'), 'Flaky-rsc_a2_flaky.state'));
    await waitFor(
      services,
      (s) => s.rsc_a2_flaky?.assembly !== 'a2' && s.rsc_a2_flaky?.state === 'running',
      40_000,
      'flaky moved and running',
    );
    const escalated = since(mark, 'action_finished', 'escalate');
    assert.equal(escalated[0]?.values.level, 'assembly');
    const to = qmfText((await services()).rsc_a2_flaky?.assembly);
    assert.ok(existsSync(join(rscTmp(to), 'Flaky-rsc_a2_flaky.state')), `Flaky runs on ${to}`);
    assert.match(readFileSync(recoveryLog, 'utf8'), /^recover a2$/m);
    // Its failed start's reason, from the agent's own exit reason, reaches the operator.
    assert.ok(
      events
        .slice(mark)
        .some((e) => /start refused on demand/.test(qmfText(e.values.detail ?? e.values.reason))),
    );
  });

  it('restarts an LSB service whose daemon died', async () => {
    const mark = events.length;
    const pid = Number(readFileSync(join(rscTmp('a3'), 'cpe-test-lsb.pid'), 'utf8'));
    process.kill(pid, 'SIGKILL');
    await waitFor(
      () => Promise.resolve(since(mark, 'action_finished', 'restart')),
      (l) => l.some((e) => e.values.service === 'rsc_a3_initd'),
      20_000,
      'the restart of initd',
    );
    const again = Number(readFileSync(join(rscTmp('a3'), 'cpe-test-lsb.pid'), 'utf8'));
    assert.notEqual(again, pid);
    process.kill(again, 0);
  });

  it('probes, never restarts, the services of an agent killed and started again', async () => {
    const before = await status();
    const epoch = (s: QmfMap): unknown => (s.assemblies as QmfMap[])[0]!.epoch;
    const mark = events.length;
    const a1 = agents.get('a1')!;
    await a1.kill9();
    await a1.start();
    await waitFor(status, (s) => epoch(s) !== epoch(before), 20_000, "a1's new session");
    await new Promise((r) => setTimeout(r, 2000));
    const acted = since(mark, 'action_started').filter(
      (e) => e.values.assembly === 'a1' && e.values.type !== 'notify',
    );
    assert.deepEqual(acted, [], 'nothing started, stopped or probed again on a1');
    assert.equal((await services()).rsc_a1_dummy?.state, 'running');
  });

  it('exits 0 on SIGTERM', async () => {
    assert.equal(await agents.get('a4')!.stop(), 0);
  });
});
