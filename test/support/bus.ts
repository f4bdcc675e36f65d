/**
 * Transports for the messaging tests: an embedded router on a free port, and
 * RabbitMQ on 127.0.0.1:5672 (guest/guest) with its AMQP 1.0 plugin — started
 * and enabled here if need be. Without RabbitMQ the broker tests skip,
 * except under CI=true, where they fail: CI must exercise the real broker.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import net from 'node:net';
import rhea from 'rhea';
import { Bus } from '../../lib/bus/bus.js';
import type { ProfileName } from '../../lib/bus/addressing.js';
import { EmbeddedRouter, type RouterOptions } from '../../lib/bus/router.js';
import { silentLogger } from '../../lib/log.js';

export const RABBITMQ_URL =
  process.env.CPE_TEST_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const CI = process.env.CI === 'true';

export interface Transport {
  readonly name: string;
  readonly profile: ProfileName;
  readonly url: string;
  readonly router?: EmbeddedRouter;
  stop(): Promise<void>;
}

export async function embedded(options: Partial<RouterOptions> = {}): Promise<Transport> {
  const router = new EmbeddedRouter({ logger: silentLogger(), port: 0, ...options });
  const port = await router.start();
  return {
    name: 'embedded router',
    profile: 'embedded',
    url: `amqp://127.0.0.1:${port}`,
    router,
    stop: () => router.close(),
  };
}

export function connect(
  transport: Transport,
  name: string,
  extra: Partial<ConstructorParameters<typeof Bus>[0]> = {},
): Bus {
  return new Bus({
    url: transport.url,
    profile: transport.profile,
    name,
    logger: silentLogger(),
    reconnect: { initialMs: 50, maxMs: 500 },
    ...extra,
  });
}

function tcpOpen(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Whether an AMQP 1.0 connection opens (RabbitMQ without the plugin refuses the 1.0 header). */
export function amqp10Opens(url: string, timeoutMs = 5000): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const container = rhea.create_container();
    container.on('error', () => undefined);
    container.on('protocol_error', () => undefined);
    const connection = container.connect({
      host: u.hostname,
      port: Number(u.port || 5672),
      username: decodeURIComponent(u.username) || undefined,
      password: decodeURIComponent(u.password) || undefined,
      reconnect: false,
    });
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      connection.close();
      setTimeout(() => resolve(ok), 10);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    connection.once('connection_open', () => finish(true));
    connection.once('disconnected', () => finish(false));
    connection.once('connection_error', () => finish(false));
  });
}

async function poll(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

function have(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

let rabbit: Promise<string | null> | undefined;

/** rabbitmqctl set_policy's arguments for the policy the README asks for. */
export const UNUSED_QUEUE_POLICY = [
  '--apply-to',
  'queues',
  'cpe-amqp10-unused',
  '^amq\\.gen-',
  '{"expires":60000}',
];

/** RabbitMQ's URL once it accepts AMQP 1.0, starting it and enabling the plugin if need be; null if impossible. */
export function ensureRabbitMq(): Promise<string | null> {
  rabbit ??= (async () => {
    if (!(await tcpOpen(5672)) && have('rabbitmq-server')) {
      spawnSync('rabbitmq-server', ['-detached'], { stdio: 'ignore' });
      await poll(() => tcpOpen(5672), 90_000);
    }
    if (!(await tcpOpen(5672))) return null;
    if (!(await amqp10Opens(RABBITMQ_URL)) && have('rabbitmq-plugins')) {
      execFileSync('rabbitmq-plugins', ['enable', 'rabbitmq_amqp1_0'], {
        stdio: 'ignore',
        timeout: 120_000,
      });
      await poll(() => amqp10Opens(RABBITMQ_URL), 30_000);
    }
    // The plugin leaves every receiving link's queue behind (rabbitmq-server#2588):
    // without this, the tests' links pile up and fill the broker (README).
    if (have('rabbitmqctl'))
      execFileSync('rabbitmqctl', ['-q', 'set_policy', ...UNUSED_QUEUE_POLICY], {
        stdio: 'ignore',
        timeout: 60_000,
      });
    return (await amqp10Opens(RABBITMQ_URL)) ? RABBITMQ_URL : null;
  })();
  return rabbit;
}

/**
 * Skips the suite when `why` says what it lacks — and fails it under
 * CI=true, where no integration test may skip.
 */
export function requireOrSkip(context: Mocha.Context, what: string, why: string | undefined): void {
  if (why === undefined) return;
  if (CI) throw new Error(`${what} is required under CI=true: ${why}`);
  context.skip();
}

/** A RabbitMQ transport, or (outside CI) skips the suite when there is none. */
export async function rabbitmq(context: Mocha.Context): Promise<Transport> {
  context.timeout(180_000);
  const url = await ensureRabbitMq();
  if (url === null) {
    if (CI)
      throw new Error(
        'RabbitMQ with the AMQP 1.0 plugin is required under CI=true (127.0.0.1:5672, guest/guest)',
      );
    context.skip();
  }
  return { name: 'RabbitMQ', profile: 'rabbitmq', url: url, stop: () => Promise.resolve() };
}

/** Restarts RabbitMQ's application (every connection drops), waiting until AMQP 1.0 works again. */
export async function restartRabbitMq(): Promise<void> {
  execFileSync('rabbitmqctl', ['stop_app'], { stdio: 'ignore', timeout: 120_000 });
  execFileSync('rabbitmqctl', ['start_app'], { stdio: 'ignore', timeout: 120_000 });
  await poll(() => amqp10Opens(RABBITMQ_URL), 60_000);
}

export function until(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = (): void => {
      if (check()) resolve();
      else if (Date.now() - started > timeoutMs) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 10);
    };
    tick();
  });
}
