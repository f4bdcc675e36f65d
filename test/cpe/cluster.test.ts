/**
 * A CPE cluster on a real etcd cluster (three members on loopback), with
 * real CPEs sharing RabbitMQ: deployables spread over the members, move when
 * one joins or dies, and stay put while etcd loses a member or its quorum.
 * Over the whole run, /proc never shows two DPEs for one deployable.
 */
import { strict as assert } from 'node:assert';
import type { QmfMap } from '../../lib/bus/qmf.js';
import { rabbitmq } from '../support/bus.js';
import { TestCluster } from '../support/cluster.js';
import { exampleAs } from '../support/cpe.js';
import { EtcdCluster, requireEtcd } from '../support/etcd.js';

const NAMES = Array.from({ length: 6 }, (_, i) => `cl-${process.pid}-${i}`);
const TTL_S = 6;

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
    await sleep(TTL_S * 2000 + 2000);
    assert.deepEqual(cluster.pids(), before, 'no DPE stopped or moved');
    const info = await cluster.client.call('cpe_info');
    assert.equal((info.cluster as QmfMap).etcd, 'no-quorum');
    etcd.startMember(1);
    etcd.startMember(2);
    await etcd.waitHealthy();
    await sleep(TTL_S * 1000);
    assert.deepEqual(cluster.pids(), before, 'nothing moved when the quorum came back');
    await cluster.allReady(NAMES);
  });

  it('a CPE killed with its DPEs: its deployables run elsewhere within the lease TTL and a bound', async () => {
    const status = await cluster.allReady(NAMES);
    const victim = 'cpe-a';
    const its = NAMES.filter((n) => status.get(n)!.owner === victim);
    assert.ok(its.length > 0);
    const pids = cluster.pids();
    const cpe = cluster.cpes.get(victim)!;
    const killedAt = Date.now();
    await cpe.kill9();
    for (const n of its) process.kill(pids.get(n)!, 'SIGKILL');
    cluster.cpes.delete(victim);
    const after = await cluster.allReady(NAMES, TTL_S * 1000 + 20_000);
    const took = Date.now() - killedAt;
    for (const n of its) assert.notEqual(after.get(n)!.owner, victim);
    console.log(
      `      failover of ${its.length} deployable(s): ${took} ms (lease TTL ${TTL_S * 1000} ms)`,
    );
  });

  it('never ran two DPEs for one deployable', () => {
    assert.deepEqual(cluster.doubles, []);
  });
});
