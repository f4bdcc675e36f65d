import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../lib/log.js';
import { Notifier } from '../../lib/notify.js';
import { until } from '../support/bus.js';

interface Listener {
  on(event: 'message', f: (msg: Buffer) => void): void;
  bind(path: string): void;
  close(): void;
}
const unix = createRequire(import.meta.url)('unix-dgram') as {
  createSocket(type: 'unix_dgram'): Listener;
};

describe('sd_notify', () => {
  let path: string;
  let listener: Listener;
  let received: string[];

  beforeEach(() => {
    path = join(mkdtempSync(join(tmpdir(), 'cpe-notify-')), 'notify.sock');
    received = [];
    listener = unix.createSocket('unix_dgram');
    listener.on('message', (msg) => received.push(msg.toString('utf8')));
    listener.bind(path);
  });
  afterEach(() => listener.close());

  it('sends READY, STATUS and STOPPING datagrams to NOTIFY_SOCKET', async () => {
    const n = new Notifier(silentLogger(), { NOTIFY_SOCKET: path });
    assert.equal(n.enabled, true);
    n.ready('serving 2 deployables');
    n.status('reloading settings');
    n.stopping();
    await until(() => received.length === 3, 5000, 'three datagrams');
    assert.deepEqual(received, [
      'READY=1\nSTATUS=serving 2 deployables',
      'STATUS=reloading settings',
      'STOPPING=1',
    ]);
    n.close();
  });

  it('feeds the watchdog at half of WATCHDOG_USEC, for our PID only', async () => {
    const n = new Notifier(silentLogger(), { NOTIFY_SOCKET: path, WATCHDOG_USEC: '100000' });
    assert.equal(n.watchdogIntervalMs, 50);
    n.ready();
    await until(() => received.filter((m) => m === 'WATCHDOG=1').length >= 3, 5000, 'keep-alives');
    n.stopping();
    await until(() => received.includes('STOPPING=1'), 5000, 'STOPPING=1');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(received.at(-1), 'STOPPING=1', 'no keep-alive after STOPPING');
    n.close();
    const other = new Notifier(
      silentLogger(),
      { NOTIFY_SOCKET: path, WATCHDOG_USEC: '100000', WATCHDOG_PID: '1' },
      4242,
    );
    assert.equal(other.watchdogIntervalMs, undefined);
  });

  it('starves the watchdog while the daemon says it is not well, and feeds it again after', async () => {
    const n = new Notifier(silentLogger(), { NOTIFY_SOCKET: path, WATCHDOG_USEC: '100000' });
    let problem: string | null = 'the bus has been down for 61 s';
    n.watchHealth(() => problem);
    n.ready();
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(received, ['READY=1'], 'no keep-alive while wedged');
    problem = null;
    await until(() => received.includes('WATCHDOG=1'), 5000, 'a keep-alive');
    n.close();
  });

  it('warns, naming the error, when no one listens on NOTIFY_SOCKET', () => {
    const warnings: { message: string; meta: unknown }[] = [];
    const log = {
      ...silentLogger(),
      warn: (message: string, meta?: unknown) => void warnings.push({ message, meta }),
    };
    const gone = join(mkdtempSync(join(tmpdir(), 'cpe-notify-')), 'nobody.sock');
    const n = new Notifier(log, { NOTIFY_SOCKET: gone });
    n.ready();
    n.close();
    assert.deepEqual(warnings, [
      { message: 'sd_notify failed', meta: { socket: gone, error: 'send: ENOENT' } },
    ]);
  });

  it('is silent without NOTIFY_SOCKET, and refuses abstract sockets with a warning', () => {
    const quiet = new Notifier(silentLogger(), {});
    assert.equal(quiet.enabled, false);
    quiet.ready();
    quiet.close();
    const warnings: string[] = [];
    const log = { ...silentLogger(), warn: (m: string) => void warnings.push(m) };
    const abstract = new Notifier(log, { NOTIFY_SOCKET: '@/org/freedesktop/systemd1/notify' });
    assert.equal(abstract.enabled, false);
    assert.match(warnings[0] ?? '', /abstract socket/);
  });
});
