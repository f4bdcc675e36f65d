/**
 * A CPE cluster on a real etcd cluster (three members on loopback), with
 * real CPEs sharing RabbitMQ: deployables spread over the members, move when
 * one joins or dies, and stay put while etcd loses a member or its quorum.
 * Over the whole run, /proc never shows two DPEs for one deployable.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { preferredMember } from '../../cpe/ownership.js';
import type { QmfMap } from '../../lib/bus/qmf.js';
import { packageRoot } from '../../lib/paths.js';
import { RABBITMQ_URL, rabbitmq, requireOrSkip } from '../support/bus.js';
import { TestCluster } from '../support/cluster.js';
import { CpeProcess, exampleAs, processAlive } from '../support/cpe.js';
import { EtcdCluster, requireEtcd } from '../support/etcd.js';
import { netnsUnavailable, TestNetwork } from '../support/netns.js';

/**
 * Six names that give each of cpe-a and cpe-b a share, and cpe-c one once it
 * joins (rendezvous hashing picks by name: some picks would leave one out).
 */
const NAMES = ((): string[] => {
  for (let base = 0; ; base += 6) {
    const names = Array.from({ length: 6 }, (_, i) => `cl-${process.pid}-${base + i}`);
    const shares = (members: string[]): boolean =>
      members.every((m) => names.some((n) => preferredMember(n, members) === m));
    if (shares(['cpe-a', 'cpe-b']) && shares(['cpe-a', 'cpe-b', 'cpe-c'])) return names;
  }
})();
const TTL_S = 10;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('a CPE cluster on etcd (three etcd members, RabbitMQ)', function () {
  this.timeout(240_000);
  let etcd: EtcdCluster;
  let cluster: TestCluster;

  before(async function () {
    requireEtcd(this);
    const broker = await rabbitmq(this);
    etcd = await EtcdCluster.start(3);
    cluster = new TestCluster(etcd, broker, TTL_S);
    cluster.watchForDoubles();
    await cluster.add('cpe-a');
    await cluster.add('cpe-b');
  });

  after(async () => {
    if (cluster) {
      for (const name of NAMES)
        await cluster.client.call('deployable_destroy', { name }).catch(() => undefined);
      await cluster.stop();
    }
    await etcd?.stop();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && cluster) console.log(cluster.logs(), etcd.logs());
  });

  it('spreads the deployables created through any CPE over the members, one DPE each', async () => {
    for (const name of NAMES)
      assert.equal(
        (await cluster.client.call('deployable_create', { name, config: exampleAs(name) })).created,
        true,
      );
    const status = await cluster.allReady(NAMES);
    const owners = new Set(NAMES.map((n) => status.get(n)!.owner));
    assert.deepEqual([...owners].sort(), ['cpe-a', 'cpe-b'], 'both members run a share');
    const running = cluster.running();
    for (const n of NAMES)
      assert.equal(running.get(n), status.get(n)!.owner, `${n} runs under its owner`);
    const info = await cluster.client.call('cpe_info');
    assert.deepEqual((info.cluster as QmfMap).members, ['cpe-a', 'cpe-b']);
    assert.equal((info.cluster as QmfMap).etcd, 'ok');
  });

  it('keeps the whole event log on every member: each event once, under one id', async () => {
    const name = NAMES[0]!;
    const kinds = ['deployable_created', 'dpe_started', 'dpe_ready'];
    const logOf = async (cpe: CpeProcess): Promise<string[]> => {
      const res = await fetch(`${cpe.httpUrl}/api/v1/events?deployable=${name}&limit=1000`);
      const body = (await res.json()) as { events: { id: string; kind: string }[] };
      return body.events
        .filter((e) => kinds.includes(e.kind))
        .map((e) => `${e.kind} ${e.id}`)
        .sort();
    };
    let logs: string[][] = [];
    const deadline = Date.now() + 10_000;
    do {
      logs = await Promise.all([...cluster.cpes.values()].map(logOf));
      if (logs.every((l) => JSON.stringify(l) === JSON.stringify(logs[0]))) break;
      await sleep(200);
    } while (Date.now() < deadline);
    for (const l of logs) assert.deepEqual(l, logs[0], 'every member holds the same events');
    for (const kind of kinds)
      assert.equal(
        logs[0]!.filter((e) => e.startsWith(`${kind} `)).length,
        1,
        `${kind} is in the log once: ${logs[0]!.join(', ')}`,
      );
  });

  it('a CPE that joins takes a share', async () => {
    await cluster.add('cpe-c');
    const deadline = Date.now() + 30_000;
    while (![...cluster.running().values()].includes('cpe-c') && Date.now() < deadline)
      await sleep(200);
    const status = await cluster.allReady(NAMES);
    assert.ok(
      NAMES.some((n) => status.get(n)!.owner === 'cpe-c'),
      'cpe-c owns some',
    );
    assert.deepEqual(cluster.doubles, []);
  });

  it('one etcd member lost: nothing moves', async () => {
    const before = cluster.pids();
    await etcd.kill(0);
    await sleep(TTL_S * 2000);
    assert.deepEqual(cluster.pids(), before);
    etcd.startMember(0);
    await etcd.waitHealthy();
  });

  it('quorum lost: every DPE keeps running, and status says so', async () => {
    const before = cluster.pids();
    await etcd.kill(1);
    await etcd.kill(2);
    await sleep(TTL_S * 2000);
    // Each check that finds no leader possible counts as a renewal, and while
    // the quorum is lost a CPE checks on every tick: when the members come
    // back, most of the TTL is left for them to elect a leader. Sampled more
    // often than a check ran before (once the proof was TTL/3 old).
    const fenceIn: number[] = [];
    for (const until = Date.now() + 4000; Date.now() < until; await sleep(200)) {
      const c = (await cluster.client.call('cpe_info')).cluster as QmfMap;
      assert.equal(c.etcd, 'no-quorum');
      fenceIn.push(c.fence_in_ms as number);
    }
    assert.ok(
      Math.min(...fenceIn) > (TTL_S * 1000) / 2,
      `fence_in_ms stays above half the TTL: ${fenceIn.join(', ')}`,
    );
    console.log(
      `      fence_in_ms while the quorum was lost: ${Math.min(...fenceIn)}–${Math.max(...fenceIn)}`,
    );
    assert.deepEqual(cluster.pids(), before, 'no DPE stopped or moved');
    const info = await cluster.client.call('cpe_info');
    const status = info.cluster as QmfMap;
    assert.equal(status.etcd, 'no-quorum');
    const api = readFileSync(join(packageRoot(), 'schemas', 'cpe-api.md'), 'utf8');
    assert.deepEqual(
      Object.keys(status).filter((k) => !api.includes(`| \`${k}\``)),
      [],
      "schemas/cpe-api.md's table of cpe_info's cluster has every key",
    );
    etcd.startMember(1);
    etcd.startMember(2);
    await etcd.waitHealthy();
    await sleep(TTL_S * 1000);
    assert.deepEqual(cluster.pids(), before, 'nothing moved when the quorum came back');
    await cluster.allReady(NAMES);
  });

  it('a CPE killed with SIGKILL: its DPEs stop themselves, and its deployables run elsewhere within the lease TTL and a bound', async () => {
    const status = await cluster.allReady(NAMES);
    const victim = 'cpe-a';
    const running = cluster.running();
    const its = NAMES.filter((n) => running.get(n) === victim);
    assert.ok(its.length > 0);
    for (const n of its) assert.equal(status.get(n)!.owner, victim);
    const pids = cluster.pids();
    const cpe = cluster.cpes.get(victim)!;
    const killedAt = Date.now();
    await cpe.kill9();
    // Only the CPE: its DPEs notice they lost it and stop before its lease can run out.
    while (its.some((n) => processAlive(pids.get(n)!)) && Date.now() - killedAt < TTL_S * 1000)
      await sleep(50);
    const orphansGoneMs = Date.now() - killedAt;
    assert.ok(
      !its.some((n) => processAlive(pids.get(n)!)),
      'its DPEs stopped within the lease TTL',
    );
    const after = await cluster.allReady(NAMES, TTL_S * 1000 + 20_000, (s) =>
      its.every((n) => s.get(n)!.owner !== victim),
    );
    const took = Date.now() - killedAt;
    cluster.cpes.delete(victim);
    for (const n of its) assert.notEqual(after.get(n)!.owner, victim);
    console.log(
      `      failover of ${its.length} deployable(s): ${took} ms (lease TTL ${TTL_S * 1000} ms); its DPEs gone after ${orphansGoneMs} ms`,
    );
  });

  it('a second live CPE under a name in use exits 1 and says so', async () => {
    const other = await CpeProcess.create();
    const r = await other.runOnce([
      '--store',
      'etcd',
      '--etcd-endpoints',
      etcd.endpoints.join(','),
      '--etcd-prefix',
      cluster.prefix,
      '--cluster-name',
      'cpe-b',
      '--no-router-enabled',
      '--bus-url',
      cluster.broker.url,
      '--bus-profile',
      'rabbitmq',
    ]);
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      /another live CPE is a member under the name \\?"cpe-b\\?" \(cluster\.name\)/,
    );
  });

  it('never ran two DPEs for one deployable', () => {
    assert.deepEqual(cluster.doubles, []);
  });
});

/** Forwards ADDRESS:port to RabbitMQ on loopback, which only listens there: a test host reaches the broker through it. */
async function brokerProxy(address: string): Promise<{ port: number; close: () => void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(5672, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => undefined).on('close', () => sockets.delete(s));
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

/** `count` names that rendezvous hashing gives to `member` among `members`, and as many it does not. */
function namesFor(member: string, members: readonly string[], count: number): [string[], string[]] {
  const its: string[] = [];
  const others: string[] = [];
  for (let i = 0; its.length < count || others.length < count; i++) {
    const name = `cp-${process.pid}-${i}`;
    const list = preferredMember(name, members) === member ? its : others;
    if (list.length < count) list.push(name);
  }
  return [its, others];
}

describe('a CPE cut off from etcd and the broker (its own network namespace, link down)', function () {
  this.timeout(240_000);
  let network: TestNetwork | undefined;
  let etcd: EtcdCluster | undefined;
  let cluster: TestCluster | undefined;
  let proxy: { port: number; close: () => void } | undefined;
  const members = ['cpe-a', 'cpe-b', 'cpe-p'];
  const [its, others] = namesFor('cpe-p', members, 3);
  const all = [...its, ...others];

  before(async function () {
    requireOrSkip(this, 'network namespaces', netnsUnavailable());
    requireEtcd(this);
    const broker = await rabbitmq(this);
    network = new TestNetwork();
    const host = network.addHost('p');
    etcd = await EtcdCluster.start(3, network.gateway);
    proxy = await brokerProxy(network.gateway);
    cluster = new TestCluster(etcd, broker, TTL_S);
    cluster.watchForDoubles();
    await cluster.add('cpe-a');
    await cluster.add('cpe-b');
    await cluster.add('cpe-p', {
      wrap: network.wrap(host),
      broker: { url: `amqp://guest:guest@${network.gateway}:${proxy.port}`, profile: 'rabbitmq' },
    });
  });

  after(async () => {
    if (network?.hosts[0]) network.link(network.hosts[0], true);
    if (cluster) {
      for (const name of all)
        await cluster.client.call('deployable_destroy', { name }).catch(() => undefined);
      await cluster.stop();
    }
    proxy?.close();
    await etcd?.stop();
    network?.destroy();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && cluster) console.log(cluster.logs(), etcd?.logs());
  });

  it('stops its DPEs before any other CPE starts theirs, and takes its share back once the link is up', async () => {
    for (const name of all)
      await cluster!.client.call('deployable_create', { name, config: exampleAs(name) });
    let status = await cluster!.allReady(all);
    for (const n of its) assert.equal(status.get(n)!.owner, 'cpe-p');
    const host = network!.hosts[0]!;
    const cutAt = Date.now();
    network!.link(host, false);
    // Its DPEs stop at the fence: before the lease could expire, so before anyone else may claim.
    const moved = (s: Map<string, QmfMap>): boolean =>
      its.every((n) => s.get(n)!.owner !== 'cpe-p');
    status = await cluster!.allReady(all, TTL_S * 1000 + 30_000, moved);
    const took = Date.now() - cutAt;
    for (const n of its) assert.notEqual(status.get(n)!.owner, 'cpe-p');
    assert.match(
      cluster!.cpes.get('cpe-p')!.output,
      /stopping every DPE here before it can expire/,
    );
    assert.deepEqual(cluster!.doubles, [], 'never two DPEs for one deployable');
    console.log(
      `      ${its.length} deployable(s) moved off the cut-off CPE in ${took} ms (lease TTL ${TTL_S * 1000} ms)`,
    );
    network!.link(host, true);
    status = await cluster!.allReady(all, 60_000, (s) =>
      its.every((n) => s.get(n)!.owner === 'cpe-p'),
    );
    assert.deepEqual(cluster!.doubles, [], 'never two DPEs for one deployable');
  });
});

describe('cpe --store etcd, as an operator meets it', function () {
  this.timeout(120_000);
  let cpe: CpeProcess;
  const broker = ['--no-router-enabled', '--bus-url', RABBITMQ_URL, '--bus-profile', 'rabbitmq'];
  const ok = ['--store', 'etcd', '--etcd-endpoints', 'http://127.0.0.1:9', ...broker];

  before(async () => {
    cpe = await CpeProcess.create();
  });

  for (const [args, message] of [
    [['--store', 'etcd', ...broker], /store etcd needs etcd\.endpoints/],
    [
      ['--etcd-endpoints', 'http://127.0.0.1:9', ...broker],
      /etcd\.endpoints is set, but store is nedb/,
    ],
    [
      ['--store', 'etcd', '--etcd-endpoints', 'ftp://x:1', ...broker],
      /"ftp:\/\/x:1" is not an http/,
    ],
    [
      ['--store', 'etcd', '--etcd-endpoints', 'http://127.0.0.1:9'],
      /share one broker; point bus\.url at it and add --no-router-enabled/,
    ],
    [
      [...ok, '--bus-profile', 'plain'],
      /a cluster runs on RabbitMQ \(bus\.profile rabbitmq or rabbitmq-topic\), not plain/,
    ],
    [[...ok, '--supervisor', 'systemd'], /runs DPEs as its own processes \(--supervisor process\)/],
    [[...ok, '--cluster-lease-ttl', '4'], /cluster\.leaseTtl must be at least 5/],
  ] as const)
    it(`refuses ${args.filter((a) => a.startsWith('--')).join(' ')} as a usage error (exit 2)`, async () => {
      const r = await cpe.runOnce(args);
      assert.equal(r.code, 2, r.out);
      assert.match(r.out, message);
    });

  it('without a reachable etcd, exits 1 saying where it looked and what to check', async function () {
    requireEtcd(this);
    const r = await cpe.runOnce(ok);
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      /cannot join the cluster through etcd at http:\/\/127\.0\.0\.1:9 \(.*\): is a majority of its members up and reachable\?/,
    );
  });
});
