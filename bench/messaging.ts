/**
 * Messaging benchmarks, for the embedded router and RabbitMQ side by side:
 * method-call round trip (sequential: median, p99) and throughput (64 in
 * flight), and heartbeats and events delivered per second to one
 * subscriber. The router, the server and the publisher are processes of
 * their own, as the CPE, a daemon and an agent would be.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ProfileName } from '../lib/bus/addressing.js';
import { Bus } from '../lib/bus/bus.js';
import { MethodClient } from '../lib/bus/client.js';
import { subscribeEvents, subscribeHeartbeats } from '../lib/bus/events.js';
import { silentLogger } from '../lib/log.js';
import { amqp10Opens, RABBITMQ_URL } from '../test/support/bus.js';
import { median, percentile, type Figures } from './report.js';

const PEER = join(import.meta.dirname, 'messaging-peer.ts');
const logger = silentLogger();

interface Peer {
  readonly child: ChildProcess;
  readonly next: () => Promise<Record<string, unknown>>;
}

function peer(args: string[]): Peer {
  // stdin is a pipe the peer watches: when this process dies, so do its peers.
  const child = spawn(process.execPath, ['--import', 'tsx', PEER, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    child,
    next: async () => {
      const line: IteratorResult<string> = await lines.next();
      if (line.done) throw new Error(`benchmark peer ${String(args[0])} ended early`);
      return JSON.parse(line.value) as Record<string, unknown>;
    },
  };
}

async function measure(url: string, profile: ProfileName, suffix: string): Promise<Figures> {
  const figures: Figures = {};
  const address = `bench.echo.${process.pid}`;
  const server = peer(['server', url, profile, address]);
  await server.next();
  const bus = new Bus({ url, profile, name: 'bench', logger });
  await bus.whenUp(10_000);
  const client = new MethodClient(bus, { name: 'bench', logger, maxInFlight: 1000 });
  const target = { address, object: 'bench' };
  for (let i = 0; i < 200; i++) await client.call(target, 'echo', { n: i });
  const rtts: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const t = process.hrtime.bigint();
    await client.call(target, 'echo', { n: i });
    rtts.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  figures[`call_rtt_median_ms${suffix}`] = {
    value: median(rtts),
    unit: 'ms',
    note: '2,000 sequential calls',
  };
  figures[`call_rtt_p99_ms${suffix}`] = { value: percentile(rtts, 99), unit: 'ms' };
  const total = 20_000;
  let issued = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (issued < total) await client.call(target, 'echo', { n: issued++ });
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  figures[`calls_per_s${suffix}`] = {
    value: Math.round(total / seconds),
    unit: '/s',
    note: '64 calls in flight',
  };
  client.close();
  server.child.kill();

  for (const kind of ['heartbeat', 'event'] as const) {
    // Three runs, the median reported: one run swings by ±20% on two busy cores.
    const runs: { rate: number; received: number }[] = [];
    for (let run = 0; run < 3; run++) runs.push(await deliveryRate(bus, url, profile, kind));
    const rates = runs.map((r) => r.rate);
    const received = Math.min(...runs.map((r) => r.received));
    figures[`${kind}s_per_s${suffix}`] = {
      value: median(rates),
      unit: '/s',
      note: `median of 3 runs (${Math.min(...rates)}–${Math.max(...rates)}); at least ${received.toLocaleString('en')} of ${PUBLISHED.toLocaleString('en')} delivered`,
    };
  }
  await bus.close();
  return figures;
}

const PUBLISHED = 100_000;

/** Publishes from another process to one subscriber here; returns the delivery rate. */
async function deliveryRate(
  bus: Bus,
  url: string,
  profile: ProfileName,
  kind: 'heartbeat' | 'event',
): Promise<{ rate: number; received: number }> {
  const topic = `bench.${kind}.${process.pid}.${Date.now()}`;
  let received = 0;
  let first = 0n;
  let last = 0n;
  const onOne = (): void => {
    if (received++ === 0) first = process.hrtime.bigint();
    last = process.hrtime.bigint();
  };
  const sub =
    kind === 'heartbeat'
      ? subscribeHeartbeats(bus, topic, onOne)
      : subscribeEvents(bus, topic, onOne);
  await sub.ready;
  const publisher = peer(['publish', url, profile, topic, String(PUBLISHED), kind]);
  await publisher.next(); // all sent
  const deadline = Date.now() + 60_000;
  while (received < PUBLISHED && Date.now() < deadline) {
    const before = received;
    await new Promise((r) => setTimeout(r, 500));
    if (received === before && received > 0) break; // the rest were dropped
  }
  publisher.child.kill();
  sub.close();
  const rate = received > 1 ? Math.round((received - 1) / (Number(last - first) / 1e9)) : 0;
  return { rate, received };
}

export async function runMessaging(): Promise<Figures> {
  const router = peer(['router']);
  const { port, password } = await router.next();
  const figures = await measure(
    `amqp://cpe:${String(password)}@127.0.0.1:${String(port)}`,
    'embedded',
    '',
  );
  router.child.kill();
  if (await amqp10Opens(RABBITMQ_URL)) {
    Object.assign(figures, await measure(RABBITMQ_URL, 'rabbitmq', '_rabbitmq'));
  } else {
    process.stderr.write(
      `RabbitMQ with AMQP 1.0 is not reachable at ${RABBITMQ_URL}: its figures are skipped\n`,
    );
  }
  return figures;
}
