/**
 * A separate process for the messaging benchmarks: `router` (an embedded
 * router), `server` (an echo method server) or `publish` (heartbeats or
 * events as fast as credit allows; `beats:DEPLOYABLE:N` spreads heartbeats
 * over a deployable's assemblies a1…aN). Speaks JSON lines on stdout.
 */
import { Bus } from '../lib/bus/bus.js';
import type { ProfileName } from '../lib/bus/addressing.js';
import { eventMessage, heartbeatMessage } from '../lib/bus/qmf.js';
import { randomBytes } from 'node:crypto';
import { BusKey } from '../lib/bus/credentials.js';
import { CPE_USER } from '../lib/bus/identity.js';
import { EmbeddedRouter } from '../lib/bus/router.js';
import { MethodServer } from '../lib/bus/server.js';
import { silentLogger } from '../lib/log.js';

const [role, url = '', profile = 'embedded', address = '', countText = '0', kind = 'heartbeat'] =
  process.argv.slice(2);
const logger = silentLogger();
const say = (record: object): void => void process.stdout.write(`${JSON.stringify(record)}\n`);
// The benchmark holds our stdin open; when it goes away, so do we.
process.stdin.on('end', () => process.exit(0)).resume();

if (role === 'router') {
  // As the CPE runs it: authorization on, the shipped limits. Every peer is the CPE
  // (allowed everything), so each message still goes through the checks.
  const key = new BusKey(randomBytes(32));
  const router = new EmbeddedRouter({ logger, port: 0, key, authorize: true });
  say({ port: await router.start(), password: key.password(CPE_USER) });
} else {
  const bus = new Bus({ url, profile: profile as ProfileName, name: `bench-${role}`, logger });
  await bus.whenUp(10_000);
  if (role === 'server') {
    const server = new MethodServer(bus, {
      address,
      logger,
      objects: {
        bench: { echo: { args: { n: { type: 'integer' } }, handler: (a) => ({ n: a.n! }) } },
      },
    });
    await server.start();
    say({ ready: true });
  } else if (role === 'publish') {
    const count = Number(countText);
    const sender = bus.sender('topic', address, true);
    await new Promise((r) => sender.once('sendable', r));
    let sent = 0;
    const message = (i: number) =>
      kind === 'event'
        ? eventMessage({
            name: 'bench',
            timestamp: Date.now(),
            severity: 'info',
            values: { i, deployable: 'bench' },
          })
        : kind.startsWith('beats:')
          ? spreadBeat(i)
          : heartbeatMessage({
              agent: 'agent.bench.a1',
              timestamp: Date.now(),
              intervalMs: 1000,
              epoch: 'bench',
              sequence: i,
              values: { load1: 0.1 },
            });
    // beats:DEPLOYABLE:N[:RUN] — the beats of assemblies a1…aN of a deployable, in turn
    // (a new RUN is a new session of each: sequences start again).
    const [, deployable = 'bench', n = '1', run = '0'] = kind.split(':');
    const assemblies = Math.max(1, Number(n));
    const spreadBeat = (i: number) =>
      heartbeatMessage({
        agent: `agent.${deployable}.a${((i - 1) % assemblies) + 1}`,
        timestamp: Date.now(),
        intervalMs: 1000,
        epoch: `bench-${run}-${((i - 1) % assemblies) + 1}`,
        sequence: Math.floor((i - 1) / assemblies) + 1,
        values: { load1: 0.1 },
      });
    const pump = (): void => {
      while (sent < count && sender.sendable()) sender.send(bus.sign(message(++sent)));
      if (sent >= count) say({ sent });
    };
    sender.on('sendable', pump);
    pump();
  }
}
