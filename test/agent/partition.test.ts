/**
 * A real partition: two assemblies as network namespaces on a bridge in the
 * router's namespace, each running a real `cpe-agent`, a never-twice Dummy
 * on one of them. Its switch port goes down: the service may start on the
 * other assembly only once the fence (fabric fencing: the port held down)
 * is confirmed. The port comes back: the old copy is stopped. Root only;
 * under CI=true it never skips.
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentialLine } from '../../lib/bus/credentials.js';
import { subscribeEvents } from '../../lib/bus/events.js';
import { qmfText, type BusEvent, type QmfMap } from '../../lib/bus/qmf.js';
import { requireOrSkip } from '../support/bus.js';
import { startLoop, waitFor, type Loop } from '../support/dpe.js';
import { selfSignedCert } from '../support/tls.js';
import { netnsUnavailable, TestNetwork, type TestHost } from '../support/netns.js';
import {
  FIXTURES,
  rscTmpOf,
  startRealAgents,
  requireResourceAgents,
  testOcfRoot,
  type RealAgent,
} from '../support/real-agent.js';

function config(name: string, fence: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<deployable name="${name}" uuid="uuid-${name}" schema_version="2">
  <heartbeat interval="500ms" missed="3"/>
  <recovery driver="command" command="${fence}" timeout="10s"/>
  <assemblies>
    <assembly name="a" uuid="uuid-a">
      <services>
        <service name="db" class="ocf" provider="heartbeat" type="Dummy" unique="true" monitor_interval="500ms" timeout="5s"/>
      </services>
    </assembly>
    <assembly name="b" uuid="uuid-b"/>
  </assemblies>
</deployable>
`;
}

interface Sample {
  readonly at: number;
  readonly copies: readonly string[];
  readonly linkA: boolean;
}

describe('a real network partition (namespaces, veth, a real agent on each side)', function () {
  this.timeout(180_000);
  const name = 'netpart';
  let net: TestNetwork | undefined;
  let loop: Loop | undefined;
  let dir: string;
  let fenceDir: string;
  const agents = new Map<string, RealAgent>();
  const hosts = new Map<string, TestHost>();
  const events: BusEvent[] = [];
  const samples: Sample[] = [];
  let linkA = true;
  let sampler: NodeJS.Timeout | undefined;

  const rscTmp = (assembly: string): string => rscTmpOf(dir, assembly);
  const copies = (): string[] =>
    ['a', 'b'].filter((a) => existsSync(join(rscTmp(a), 'Dummy-rsc_a_db.state')));
  const status = (): Promise<QmfMap> => loop!.api.call('deployable_status', { name });
  const placedOn = async (): Promise<unknown> =>
    ((await status()).services as QmfMap[]).find((s) => s.id === 'rsc_a_db')?.assembly;

  before(async function () {
    requireOrSkip(this, 'network namespaces', netnsUnavailable());
    requireResourceAgents(this);
    dir = mkdtempSync(join(tmpdir(), 'cpe-partition-'));
    fenceDir = join(dir, 'fence');
    mkdirSync(fenceDir);
    copyFileSync(join(FIXTURES, 'fence-port'), join(fenceDir, 'fence-port'));
    chmodSync(join(fenceDir, 'fence-port'), 0o755);
    net = new TestNetwork();
    for (const h of ['a', 'b']) hosts.set(h, net.addHost(h));
    writeFileSync(
      join(fenceDir, 'ports'),
      [...hosts.values()].map((h) => `${h.name} ${h.port}\n`).join(''),
    );
    const password = 'partition-test';
    const credentials = join(dir, 'bus-users');
    writeFileSync(credentials, `${await credentialLine('cpe', password)}\n`);
    const tls = selfSignedCert(dir, net.gateway);
    const ocfRoot = testOcfRoot();
    const fence = join(fenceDir, 'fence-port');
    loop = await startLoop({
      name,
      agents: false,
      // PLAIN beyond loopback goes over TLS only (the router refuses it in clear).
      router: { host: net.gateway, credentialsFile: credentials, user: 'cpe', password, tls },
      xml: () => config(name, fence),
      // The agents and DPEs read the CA from the same settings file.
      settings: () => ({
        recovery: { commands: fence },
        dpe: { agentReconnectMs: 2000 },
        bus: { ca: tls.ca },
      }),
      beforeCreate: async (api, cpe) => {
        void (await subscribeEvents(api.bus, 'cpe.events', (e) => events.push(e), {
          values: { deployable: name },
        }).ready);
        await startRealAgents(
          hosts.keys(),
          { deployable: name, cpe, dir, ocfRoot, wrap: (a) => net!.wrap(hosts.get(a)!) },
          agents,
        );
      },
    });
    sampler = setInterval(() => samples.push({ at: Date.now(), copies: copies(), linkA }), 25);
  });

  after(async () => {
    clearInterval(sampler);
    await loop?.close();
    for (const a of agents.values()) await a.stop();
    net?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs the never-twice service on its home', async () => {
    await waitFor(status, (s) => s.state === 'running', 30_000, 'the deployable running');
    assert.equal(await placedOn(), 'a');
    assert.deepEqual(copies(), ['a']);
    const s = await status();
    const a = (s.assemblies as QmfMap[]).find((x) => x.name === 'a')!;
    assert.equal(a.health, 'up');
  });

  it('starts it on the other side only after the fence, and stops the old copy on return', async () => {
    const mark = events.length;
    const cut = Date.now();
    linkA = false;
    net!.link(hosts.get('a')!, false);
    await waitFor(placedOn, (p) => p === 'b', 30_000, 'db placed on b');
    await waitFor(
      () => Promise.resolve(copies()),
      (c) => c.includes('b'),
      10_000,
      'the copy on b',
    );
    const later = events.slice(mark);
    const fenced = later.findIndex(
      (e) =>
        e.name === 'action_finished' &&
        e.values.type === 'fence-assembly' &&
        e.values.assembly === 'a',
    );
    const moved = later.findIndex(
      (e) =>
        e.name === 'action_started' && e.values.service === 'rsc_a_db' && e.values.type === 'move',
    );
    assert.ok(fenced >= 0, 'a was fenced');
    assert.ok(moved > fenced, 'the move started after the fence was confirmed');
    assert.match(readFileSync(join(fenceDir, 'fence.log'), 'utf8'), /^fence a \d+$/m);
    // Behind the fence the old copy still runs, cut off: nothing could stop it.
    assert.deepEqual(copies(), ['a', 'b']);

    const healed = Date.now();
    linkA = true;
    net!.link(hosts.get('a')!, true);
    await waitFor(
      () => Promise.resolve(copies()),
      (c) => c.length === 1,
      30_000,
      'one copy left',
    );
    const stoppedAt = Date.now();
    assert.deepEqual(copies(), ['b'], 'the old copy is the one stopped');
    // The agent stops it before the DPE records the stop's result: its status follows.
    await waitFor(placedOn, (p) => p === 'b', 10_000, 'the DPE placing db on b alone');
    clearInterval(sampler);

    // Over the whole run: two copies only while a was cut off, and from its
    // return until the DPE stopped the old copy (bounded here generously).
    const twice = samples.filter((s) => s.copies.length > 1);
    const reachableTwice = twice.filter((s) => s.linkA);
    assert.ok(twice.every((s) => s.at >= cut));
    assert.ok(
      reachableTwice.every((s) => s.at >= healed && s.at <= stoppedAt),
      'both reachable only between the return and the stop',
    );
    assert.ok(stoppedAt - healed < 15_000, `the old copy stopped ${stoppedAt - healed} ms after`);
    // The event travels through the CPE's log: it may come after the status.
    const stop = await waitFor(
      () =>
        Promise.resolve(
          events
            .slice(mark)
            .find(
              (e) =>
                e.name === 'action_finished' &&
                e.values.type === 'stop' &&
                e.values.assembly === 'a',
            ),
        ),
      (e) => e !== undefined,
      10_000,
      'the event of the old copy stopped',
    );
    assert.match(qmfText(stop?.values.reason), /rsc_a_db runs on .*keep b, stop it on a/);
  });
});
