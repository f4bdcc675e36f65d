/**
 * DPE benchmarks, on the compiled daemons as they run in production: a CPE
 * (process supervisor), its DPE, and simulated agents in a process of their
 * own, on the embedded router or RabbitMQ.
 *
 * - recovery_after_deadline: an assembly stops beating (fault injector);
 *   from the moment its heartbeat deadline passes (its last beat as this
 *   process received it, plus missed × interval) to the event saying its
 *   service runs on another assembly. 10 and 500 assemblies, one service each.
 * - heartbeats_ingested_per_s: beats of 1,000 assemblies flooded at one DPE
 *   from another process; what its own counter took, per second; and per
 *   second of its own CPU time (heartbeats_per_dpe_cpu_s).
 * - dpe_idle_rss_mb: the DPE of 10 assemblies, planner loaded and used, idle.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { agentHeartbeats, agentNode } from '../lib/addresses.js';
import type { ProfileName } from '../lib/bus/addressing.js';
import { subscribeEvents, subscribeHeartbeats } from '../lib/bus/events.js';
import { qmfText, type BusEvent, type QmfMap } from '../lib/bus/qmf.js';
import { amqp10Opens, RABBITMQ_URL } from '../test/support/bus.js';
import type { CpeClient, CpeProcess } from '../test/support/cpe.js';
import { startLoop, waitFor, type Loop } from '../test/support/dpe.js';
import { median, percentile, type Figures } from './report.js';

const INTERVAL_MS = 500;
const MISSED = 3;
const SAMPLES = 20;

const SERVICE = 'class="systemd" type="s.service"';

/** N assemblies a1…aN with one stateless service each (`service`: its class and type), allowed anywhere. */
function config(
  name: string,
  n: number,
  monitor: 'active' | 'passive' = 'active',
  intervalMs = INTERVAL_MS,
  service = SERVICE,
): string {
  const assemblies = Array.from(
    { length: n },
    (_, i) => `    <assembly name="a${i + 1}" uuid="u${i + 1}">
      <services><service name="s" ${service} monitor_interval="5s" timeout="5s"/></services>
    </assembly>`,
  ).join('\n');
  return `<deployable name="${name}" uuid="uuid-${name}" monitor="${monitor}" schema_version="2">
  <heartbeat interval="${intervalMs}ms" missed="${MISSED}"/>
  <assemblies>
${assemblies}
  </assemblies>
</deployable>
`;
}

export interface Rig extends Loop {
  readonly name: string;
  /** The deployable's events, each with when it was received here. */
  readonly events: { readonly event: BusEvent; readonly at: number }[];
}

export interface RigOptions {
  readonly agents?: boolean;
  readonly monitor?: 'active' | 'passive';
  readonly intervalMs?: number;
  /** The service's class and type attributes. */
  readonly service?: string;
  /** Called before the deployable is created (start real agents here). */
  readonly beforeCreate?: (api: CpeClient, cpe: CpeProcess) => Promise<void>;
}

export async function rig(
  name: string,
  n: number,
  broker: { url: string; profile: ProfileName } | undefined,
  options: RigOptions = {},
): Promise<Rig> {
  const events: Rig['events'][number][] = [];
  const loop = await startLoop({
    name,
    xml: () => config(name, n, options.monitor, options.intervalMs, options.service),
    // Silence counts 2 s after the DPE connects (the default waits 10 s for agents' back-off).
    settings: () => ({ dpe: { agentReconnectMs: 2000, replayKeep: 50 } }),
    ...(broker ? { broker } : {}),
    compiled: true,
    ...(options.agents === false ? { agents: false } : {}),
    beforeCreate: async (api, cpe) => {
      await subscribeEvents(
        api.bus,
        'cpe.events',
        (event) => events.push({ event, at: Date.now() }),
        {
          values: { deployable: name },
        },
      ).ready;
      await options.beforeCreate?.(api, cpe);
    },
  });
  return { ...loop, name, events };
}

export const status = (r: Rig): Promise<QmfMap> =>
  r.api.call('deployable_status', { name: r.name });

/** Silences an assembly (true) or lets it beat again (false). */
export type Silencer = (assembly: string, silent: boolean) => Promise<void>;

export async function recovery(r: Rig, n: number, silence?: Silencer): Promise<number[]> {
  const silent =
    silence ??
    (async (a: string, on: boolean) =>
      void (await r.agents!.fault(a, 'heartbeat', { enabled: !on })));
  const s = await waitFor(
    () => status(r),
    (x) => x.state === 'running',
    180_000,
    'all running',
  );
  const placed = new Map((s.services as QmfMap[]).map((x) => [qmfText(x.id), qmfText(x.assembly)]));
  // When each assembly last beat, as received here (the DPE receives it at the same moment).
  const lastBeat = new Map<string, number>();
  const prefix = agentNode(r.name, '');
  await subscribeHeartbeats(r.api.bus, agentHeartbeats(r.name), (b) =>
    lastBeat.set(b.agent.slice(prefix.length), Date.now()),
  ).ready;
  const times: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    // An assembly that runs a service, taken in turn.
    const victim = `a${((i * 7) % n) + 1}`;
    const services = [...placed].filter(([, a]) => a === victim).map(([id]) => id);
    if (services.length === 0) continue;
    const mark = r.events.length;
    await silent(victim, true);
    await new Promise((res) => setTimeout(res, INTERVAL_MS)); // a beat in flight lands
    const deadline = lastBeat.get(victim)! + MISSED * INTERVAL_MS;
    const moved = new Map<string, number>();
    await waitFor(
      () => {
        for (const { event: e, at } of r.events.slice(mark)) {
          const v = e.values;
          if (
            e.name === 'service_state_change' &&
            v.state === 'running' &&
            services.includes(qmfText(v.service)) &&
            v.assembly !== victim &&
            !moved.has(qmfText(v.service))
          ) {
            moved.set(qmfText(v.service), at);
            placed.set(qmfText(v.service), qmfText(v.assembly));
          }
        }
        return Promise.resolve(moved.size);
      },
      (count) => count === services.length,
      30_000,
      `the services of ${victim} moved`,
    );
    for (const t of moved.values()) times.push(t - deadline);
    await silent(victim, false);
    await waitFor(
      () => status(r),
      (x) => (x.assemblies as QmfMap[]).every((a) => a.health === 'up'),
      30_000,
      `${victim} back`,
    );
  }
  return times;
}

/** A line of /proc/PID/status, in MB: VmRSS, or RssAnon (its own memory, not the shared binary's pages). */
export function statusMb(pid: number, field: 'VmRSS' | 'RssAnon'): number {
  const kb = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(
    readFileSync(`/proc/${pid}/status`, 'utf8'),
  );
  return Number(kb?.[1] ?? 0) / 1024;
}

function peer(args: string[]): { child: ChildProcess; next: () => Promise<unknown> } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'messaging-peer.ts'), ...args],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    child,
    next: async () => {
      const line: IteratorResult<string> = await lines.next();
      if (line.done) throw new Error('benchmark peer ended early');
      return JSON.parse(line.value) as unknown;
    },
  };
}

/** CPU seconds a process has used (user + system). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks
}

interface Flood {
  readonly rate: number;
  readonly taken: number;
  readonly perCpuSecond: number;
}

/**
 * Floods one DPE with the beats of 1,000 assemblies from another process:
 * how many a second its own counter took (through the embedded router, on
 * these two cores, beside the router and the publisher), and how many per
 * second of the DPE's own CPU time.
 */
async function ingest(runs: number): Promise<Flood[]> {
  const n = 1000;
  // Beats once a minute: between floods no assembly goes down.
  const r = await rig('bench-ingest', n, undefined, {
    agents: false,
    monitor: 'passive',
    intervalMs: 60_000,
  });
  try {
    const s = await waitFor(
      () => status(r),
      (x) => x.state !== null,
      60_000,
      'the DPE',
    );
    const pid = Number(s.dpe_pid);
    const count = async (): Promise<number> => Number((await counters(r)).heartbeats_received);
    const floods: Flood[] = [];
    for (let run = 0; run < runs; run++) {
      const before = await count();
      const cpuBefore = cpuSeconds(pid);
      const publisher = peer([
        'publish',
        r.cpe.urlAs(`agent.${r.name}`),
        'embedded',
        agentHeartbeats(r.name),
        String(FLOOD),
        `beats:${r.name}:${n}:${run}`,
      ]);
      const samples: { at: number; n: number }[] = [{ at: performance.now(), n: before }];
      for (let idle = 0; idle < 5;) {
        await new Promise((res) => setTimeout(res, 200));
        const c = await count();
        samples.push({ at: performance.now(), n: c });
        idle = c === samples.at(-2)!.n && c > before ? idle + 1 : 0;
      }
      publisher.child.kill();
      const moving = samples.filter((x, i) => i > 0 && x.n !== samples[i - 1]!.n);
      const first = samples[samples.indexOf(moving[0]!) - 1]!;
      const last = moving.at(-1)!;
      const taken = last.n - before;
      floods.push({
        rate: Math.round((last.n - first.n) / ((last.at - first.at) / 1000)),
        taken,
        perCpuSecond: Math.round(taken / (cpuSeconds(pid) - cpuBefore)),
      });
    }
    return floods;
  } finally {
    await r.close();
  }
}

const FLOOD = 200_000;

/** The DPE's counters (cheap, whatever the deployable's size). */
function counters(r: Rig): Promise<QmfMap> {
  return r.api.client.call({ address: `dpe.${r.name}`, object: 'dpe' }, 'counters', {}, 10_000);
}

export function recoveryFigures(times: number[], suffix: string, note: string): Figures {
  return {
    [`recovery_after_deadline_median_ms${suffix}`]: {
      value: median(times),
      unit: 'ms',
      note: `${times.length} moves, ${note}; target ≤ 100`,
    },
    [`recovery_after_deadline_p99_ms${suffix}`]: { value: percentile(times, 99), unit: 'ms' },
  };
}

export async function runDpe(): Promise<Figures> {
  const figures: Figures = {};
  const small = await rig('bench-dpe', 10, undefined);
  try {
    Object.assign(
      figures,
      recoveryFigures(await recovery(small, 10), '', '10 assemblies, embedded router'),
    );
    await new Promise((res) => setTimeout(res, 10_000));
    const pid = Number((await status(small)).dpe_pid);
    figures.dpe_idle_rss_mb = {
      value: statusMb(pid, 'VmRSS'),
      unit: 'MB',
      note: '10 assemblies, after 20 moves, idle 10 s; target ≤ 60',
    };
    figures.dpe_idle_anon_mb = {
      value: statusMb(pid, 'RssAnon'),
      unit: 'MB',
      note: "of which its own (the rest: the node binary's pages, shared by every DPE)",
    };
  } finally {
    await small.close();
  }
  const large = await rig('bench-dpe500', 500, undefined);
  try {
    Object.assign(
      figures,
      recoveryFigures(await recovery(large, 500), '_500', '500 assemblies, embedded router'),
    );
  } finally {
    await large.close();
  }
  if (await amqp10Opens(RABBITMQ_URL)) {
    const rmq = await rig(`bench-dpe-${process.pid}`, 10, {
      url: RABBITMQ_URL,
      profile: 'rabbitmq',
    });
    try {
      Object.assign(
        figures,
        recoveryFigures(await recovery(rmq, 10), '_rabbitmq', '10 assemblies, RabbitMQ'),
      );
    } finally {
      await rmq.close();
    }
  } else {
    process.stderr.write(
      `RabbitMQ with AMQP 1.0 is not reachable at ${RABBITMQ_URL}: its figures are skipped\n`,
    );
  }
  const floods = await ingest(3);
  const rates = floods.map((f) => f.rate);
  figures.heartbeats_ingested_per_s = {
    value: median(rates),
    unit: '/s',
    note: `median of 3 floods (${Math.min(...rates)}–${Math.max(...rates)}) of ${FLOOD.toLocaleString('en')} beats of 1,000 assemblies through the embedded router, all three processes on these cores; target ≥ 20,000`,
  };
  figures.heartbeats_per_dpe_cpu_s = {
    value: median(floods.map((f) => f.perCpuSecond)),
    unit: '/s',
    note: "beats taken per second of the DPE's own CPU time: what it could ingest with a core of its own",
  };
  return figures;
}
