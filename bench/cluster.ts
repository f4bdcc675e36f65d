/**
 * A CPE cluster (README, "Running a cluster"): three etcd members on
 * loopback, compiled CPEs sharing RabbitMQ, the default lease TTL.
 *
 * - create_to_ready_median_ms_cluster: deployable_create to its DPE's
 *   dpe_ready event, one at a time, beside the single-host figure (cpe group).
 * - failover_100_ms: a CPE that owns 100 deployables is killed (SIGKILL; its
 *   DPEs stop themselves) until all 100 are ready on the other CPE.
 *   failover_first_claim_ms is when the first of them was claimed: about when
 *   the dead CPE's lease ran out.
 */
import { subscribeEvents } from '../lib/bus/events.js';
import type { QmfMap } from '../lib/bus/qmf.js';
import { preferredMember } from '../cpe/ownership.js';
import { ensureRabbitMq } from '../test/support/bus.js';
import { TestCluster } from '../test/support/cluster.js';
import { CpeClient, CpeProcess, exampleAs } from '../test/support/cpe.js';
import { EtcdCluster, etcdUnavailable } from '../test/support/etcd.js';
import { median, percentile, type Figures } from './report.js';

const TTL_S = 10;
const SAMPLES = 20;
const BATCH = 100;

/** deployable_create to its dpe_ready event, one at a time, each destroyed after. */
async function createToReady(api: CpeClient, prefix: string): Promise<number[]> {
  const ready = new Map<string, () => void>();
  const subscription = subscribeEvents(api.bus, 'cpe.events', (e) => {
    if (e.name === 'dpe_ready') ready.get(e.values.deployable as string)?.();
  });
  await subscription.ready;
  const times: number[] = [];
  for (let i = 0; i < SAMPLES + 3; i++) {
    const name = `${prefix}-${i}`;
    const isReady = new Promise<void>((resolve) => ready.set(name, resolve));
    const start = process.hrtime.bigint();
    await api.call('deployable_create', { name, config: exampleAs(name) });
    await isReady;
    if (i >= 3) times.push(Number(process.hrtime.bigint() - start) / 1e6);
    await api.call('deployable_destroy', { name });
  }
  subscription.close();
  return times;
}

/** The same on one CPE (nedb) on the same broker: what the cluster adds, apart from the bus. */
async function singleOnRabbitMq(url: string): Promise<number[]> {
  const cpe = await CpeProcess.create(true, { broker: { url, profile: 'rabbitmq' } });
  await cpe.start();
  const api = new CpeClient(url, 'rabbitmq');
  try {
    await api.bus.whenUp(10_000);
    return await createToReady(api, 'bench-one');
  } finally {
    await api.close();
    await cpe.stop();
  }
}

export async function runCluster(): Promise<Figures> {
  const why = etcdUnavailable();
  const url = await ensureRabbitMq();
  if (why || !url) {
    process.stderr.write(`cluster: not measured: ${why ?? 'no RabbitMQ with AMQP 1.0'}\n`);
    return {};
  }
  const single = await singleOnRabbitMq(url);
  const etcd = await EtcdCluster.start(3);
  const cluster = new TestCluster(
    etcd,
    { name: 'RabbitMQ', profile: 'rabbitmq', url, stop: () => Promise.resolve() },
    TTL_S,
    true,
  );
  const created: string[] = [];
  try {
    await cluster.add('cpe-a');
    await cluster.add('cpe-b');
    const api = cluster.client;
    await api.bus.whenUp(10_000);
    const times = await createToReady(api, 'bench-cl');
    // 100 deployables that rendezvous hashing gives to cpe-a.
    const names: string[] = [];
    for (let i = 0; names.length < BATCH; i++)
      if (preferredMember(`fo-${i}`, ['cpe-a', 'cpe-b']) === 'cpe-a') names.push(`fo-${i}`);
    for (const name of names) {
      await api.call('deployable_create', { name, config: exampleAs(name) });
      created.push(name);
    }
    await cluster.allReady(names, 300_000, (s) => names.every((n) => s.get(n)!.owner === 'cpe-a'));
    const start = Date.now();
    await cluster.cpes.get('cpe-a')!.kill9();
    const firstClaim = (async (): Promise<number> => {
      for (;;) {
        const listed = await api
          .call('deployable_list')
          .then((r) => r.deployables as QmfMap[])
          .catch(() => []);
        if (listed.some((d) => d.owner === 'cpe-b')) return Date.now();
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    await cluster.allReady(names, 600_000, (s: Map<string, QmfMap>) =>
      names.every((n) => s.get(n)!.owner === 'cpe-b'),
    );
    const failover = Date.now() - start;
    cluster.cpes.delete('cpe-a');
    const fences = cluster.fences();
    return {
      create_to_ready_median_ms_cluster: {
        value: median(times),
        unit: 'ms',
        note: `${SAMPLES} one at a time; single host: cpe group's create_to_ready_median_ms`,
      },
      create_to_ready_p99_ms_cluster: { value: percentile(times, 99), unit: 'ms' },
      create_to_ready_median_ms_rabbitmq: {
        value: median(single),
        unit: 'ms',
        note: 'one CPE (nedb) on the same RabbitMQ, side by side',
      },
      lease_ttl_ms: { value: TTL_S * 1000, unit: 'ms', note: 'cluster.leaseTtl, the default' },
      failover_first_claim_ms: {
        value: (await firstClaim) - start,
        unit: 'ms',
        note: 'kill -9 to the first deployable claimed elsewhere (~ the lease running out)',
      },
      failover_100_ms: {
        value: failover,
        unit: 'ms',
        note: `kill -9 of the CPE owning ${BATCH} to all ${BATCH} ready on the other; target ≤ lease TTL + 2 s`,
      },
      failover_fences: {
        value: fences,
        unit: '',
        note: 'times the surviving CPE stopped its DPEs for want of its lease (0: the load never cost it the lease)',
      },
    };
  } finally {
    process.stderr.write(
      `cluster: the CPEs' logs: ${cluster
        .logs()
        .match(/\/tmp\/\S+output\.log/g)
        ?.join(' ')}\n`,
    );
    for (const name of created)
      await cluster.client.call('deployable_destroy', { name }).catch(() => undefined);
    await cluster.stop();
    await etcd.stop();
  }
}
