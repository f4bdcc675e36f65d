/**
 * CPE benchmarks, for the process supervisor and (where real systemd can be
 * booted: root, see test/support/systemd-sandbox.ts) the systemd one:
 * time from deployable_create to the DPE's dpe_ready event, one at a time
 * (median, p99); 100 deployables created back to back until all are ready,
 * and destroyed; idle RSS of the CPE and of one DPE. Compiled code (dist/),
 * as it runs in production.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { DPE_NODE_FLAGS } from '../lib/code-cache.js';
import { subscribeEvents } from '../lib/bus/events.js';
import { deferExtraCa } from '../lib/bus/extra-ca.js';
import { CpeClient, CpeProcess, exampleAs } from '../test/support/cpe.js';
import { sandboxUnavailable, SystemdSandbox } from '../test/support/systemd-sandbox.js';
import { pageFaultFigure } from './machine.js';
import { median, percentile, type Figures } from './report.js';

const SAMPLES = 40;
const BATCH = 100;
/** Long enough for the CPE's schema validator to go away when idle (30 s). */
const IDLE_MS = 35_000;
const SETTLE_MS = 5000;

/** A fixed uuid per deployable, so that runs create the same configs. */
function config(name: string, i: number): string {
  return exampleAs(name, `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`);
}

/** A CPE to measure, however it runs. */
interface Target {
  readonly api: CpeClient;
  readonly cpePid: () => Promise<number>;
  /** VmRSS of a process of the target (its pid as the target sees it), in MB. */
  readonly rssMb: (pid: number) => Promise<number>;
}

function vmRssMb(status: string): number {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!kb) throw new Error('no VmRSS in /proc/PID/status');
  return Number(kb[1]) / 1024;
}

async function measure(t: Target, suffix: string): Promise<Figures> {
  const ready = new Map<string, () => void>();
  await subscribeEvents(t.api.bus, 'cpe.events', (e) => {
    if (e.name === 'dpe_ready') ready.get(e.values.deployable as string)?.();
  }).ready;
  const whenReady = (name: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: no dpe_ready in 120 s`)), 120_000);
      ready.set(name, () => {
        clearTimeout(timer);
        ready.delete(name);
        resolve();
      });
    });
  let n = 0;
  const createToReady = async (): Promise<number> => {
    const name = `bench-${n}`;
    const xml = config(name, n++);
    const start = process.hrtime.bigint();
    const isReady = whenReady(name);
    await t.api.call('deployable_create', { name, config: xml });
    await isReady;
    return Number(process.hrtime.bigint() - start) / 1e6;
  };

  // One at a time, each destroyed before the next.
  for (let i = 0; i < 3; i++) {
    await createToReady();
    await t.api.call('deployable_destroy', { name: `bench-${n - 1}` });
  }
  const times: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    times.push(await createToReady());
    await t.api.call('deployable_destroy', { name: `bench-${n - 1}` });
  }

  // Idle: one deployable, left alone for a while.
  await createToReady();
  const idle = `bench-${n - 1}`;
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const dpeRss = await t.rssMb(
    Number((await t.api.call('deployable_status', { name: idle })).dpe_pid),
  );
  const cpeRss = await t.rssMb(await t.cpePid());
  await t.api.call('deployable_destroy', { name: idle });

  // 100 back to back: every create answered, then every DPE ready.
  const names = Array.from({ length: BATCH }, (_, i) => `batch-${i}`);
  const start = process.hrtime.bigint();
  const allReady = Promise.all(names.map(whenReady));
  for (const [i, name] of names.entries())
    await t.api.call('deployable_create', { name, config: config(name, 10_000 + i) });
  const created = Number(process.hrtime.bigint() - start) / 1e6;
  await allReady;
  const batchReady = Number(process.hrtime.bigint() - start) / 1e6;
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const cpeRss100 = await t.rssMb(await t.cpePid());
  const dpeRsses: number[] = [];
  for (const name of names.slice(0, 10))
    dpeRsses.push(await t.rssMb(Number((await t.api.call('deployable_status', { name })).dpe_pid)));
  const destroyStart = process.hrtime.bigint();
  await Promise.all(names.map((name) => t.api.call('deployable_destroy', { name })));
  const destroyed = Number(process.hrtime.bigint() - destroyStart) / 1e6;

  const s = suffix;
  return {
    [`create_to_ready_median_ms${s}`]: {
      value: median(times),
      unit: 'ms',
      note: `${SAMPLES} one at a time`,
    },
    [`create_to_ready_p99_ms${s}`]: { value: percentile(times, 99), unit: 'ms' },
    [`dpe_idle_rss_mb${s}`]: {
      value: dpeRss,
      unit: 'MB',
      note: 'target ≤ 45; see node_idle_rss_mb, the floor',
    },
    [`cpe_idle_rss_mb${s}`]: { value: cpeRss, unit: 'MB', note: 'one deployable' },
    [`create_100_answered_ms${s}`]: { value: created, unit: 'ms', note: 'back to back' },
    [`create_100_all_ready_ms${s}`]: { value: batchReady, unit: 'ms' },
    [`cpe_rss_100_mb${s}`]: { value: cpeRss100, unit: 'MB', note: '100 deployables' },
    [`dpe_rss_median_of_100_mb${s}`]: { value: median(dpeRsses), unit: 'MB', note: '10 sampled' },
    [`destroy_100_ms${s}`]: { value: destroyed, unit: 'ms', note: 'all at once' },
  };
}

/** `node -e CODE` as the process supervisor starts a DPE: its flags, its environment. */
function bareNode(code: string): ChildProcess {
  return spawn(process.execPath, [...DPE_NODE_FLAGS, '-e', code], {
    stdio: 'ignore',
    env: deferExtraCa(process.env),
  });
}

/**
 * A Node.js process that loaded nothing, idle, with the DPE's flags: what
 * every DPE has before its own code (mostly the node binary's pages, which
 * all of them share).
 */
async function bareNodeRssMb(): Promise<number> {
  const child = bareNode('setInterval(() => {}, 1000)');
  try {
    await new Promise((r) => setTimeout(r, 3000));
    return vmRssMb(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
  } finally {
    child.kill();
  }
}

/**
 * BATCH Node.js processes that do nothing (`node -e 0`, the DPE's flags),
 * started at once, until the last has exited: the floor under
 * create_100_all_ready_ms with one process per DPE, on these cores.
 */
async function bareNodesMs(): Promise<number> {
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from(
      { length: BATCH },
      () => new Promise((resolve, reject) => bareNode('0').on('error', reject).on('exit', resolve)),
    ),
  );
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function processSupervisor(): Promise<Figures> {
  const pageFault = pageFaultFigure();
  const floor = await bareNodeRssMb();
  const bare100 = await bareNodesMs();
  const cpe = await CpeProcess.create(true);
  await cpe.start();
  const api = new CpeClient(cpe.url);
  try {
    await api.bus.whenUp(10_000);
    const figures = await measure(
      {
        api,
        cpePid: () => Promise.resolve(cpe.child!.pid!),
        rssMb: (pid) => Promise.resolve(vmRssMb(readFileSync(`/proc/${pid}/status`, 'utf8'))),
      },
      '',
    );
    return {
      page_fault_us: pageFault,
      ...figures,
      node_idle_rss_mb: {
        value: floor,
        unit: 'MB',
        note: `node ${DPE_NODE_FLAGS.join(' ')} -e 'setInterval(…)', idle: the floor under a DPE`,
      },
      [`node_bare_${BATCH}_ms`]: {
        value: bare100,
        unit: 'ms',
        note: `${BATCH} × node -e 0 at once, until all exited: the floor under create_${BATCH}_all_ready_ms`,
      },
    };
  } finally {
    await api.close();
    await cpe.stop();
  }
}

async function systemdSupervisor(): Promise<Figures> {
  const sandbox = await SystemdSandbox.boot();
  let api: CpeClient | undefined;
  try {
    await sandbox.installUnits();
    await sandbox.systemctl('start', 'cpe.service');
    api = new CpeClient(await sandbox.busUrl(5673));
    await api.bus.whenUp(15_000);
    return await measure(
      {
        api,
        cpePid: async () =>
          Number(
            (await sandbox.systemctl('show', '-p', 'MainPID', '--value', 'cpe.service')).stdout,
          ),
        rssMb: async (pid) => vmRssMb((await sandbox.exec(['cat', `/proc/${pid}/status`])).stdout),
      },
      '_systemd',
    );
  } finally {
    await api?.close();
    await sandbox.destroy();
  }
}

export async function runCpe(): Promise<Figures> {
  const figures = await processSupervisor();
  const why = sandboxUnavailable();
  if (why) {
    process.stderr.write(`cpe: systemd supervisor not measured: ${why}\n`);
    return figures;
  }
  return { ...figures, ...(await systemdSupervisor()) };
}
