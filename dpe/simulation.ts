/**
 * Plays a deployable forward in virtual time: the DPE's own engine —
 * observations, planner, executor and action functions — against
 * simulated assemblies, with faults injected on schedule. What
 * crm_simulate does for one transition, over time: `cpectl simulate --run`.
 *
 * Deterministic: time is virtual, agents answer after fixed delays, epochs
 * and event ids count up, so the same input and faults give the same
 * timeline.
 */
import type { OpResult } from '../lib/agent/protocol.js';
import { BusCode, BusError } from '../lib/bus/errors.js';
import { describeEvent } from '../lib/events/describe.js';
import { VirtualClock } from '../lib/clock.js';
import type { AssemblyConfig } from '../lib/config/index.js';
import { formatDuration } from '../lib/config/values.js';
import { CpeError } from '../lib/errors.js';
import { silentLogger } from '../lib/log.js';
import { SimAssembly } from '../lib/sim/assembly.js';
import type { SimFault } from '../lib/sim/faults.js';
import { assemblyHealth, type Action, type PeInput } from '../pe/index.js';
import type { AgentPort, RecoveryPort } from './actions.js';
import { DeployableEngine } from './engine.js';

export interface TimelineEntry {
  /** Virtual ms since the simulation started. */
  readonly atMs: number;
  readonly text: string;
}

export interface SimulationOptions {
  readonly input: PeInput;
  readonly now: number;
  readonly faults: readonly SimFault[];
  /** Stop at the latest after this much virtual time. */
  readonly limitMs?: number;
  /** How long a simulated recover or fence takes. */
  readonly recoveryMs?: number;
  readonly onLine: (entry: TimelineEntry) => void;
}

export interface SimulationResult {
  readonly endedMs: number;
  readonly reason: 'settled' | 'limit';
  readonly engine: DeployableEngine;
  readonly assemblies: ReadonlyMap<string, SimAssembly>;
}

/** How long starts, stops and monitors take on a simulated assembly. */
const OP_MS = { start: 500, stop: 300, monitor: 20 } as const;

export async function simulate(o: SimulationOptions): Promise<SimulationResult> {
  const { input } = o;
  const config = input.config;
  const clock = new VirtualClock(o.now);
  const start = o.now;
  const line = (text: string): void => o.onLine({ atMs: clock.now() - start, text });
  let activity = clock.now();
  const counters = new Map<string, number>();
  const sims = new Map<string, SimAssembly>();
  for (const a of config.assemblies) {
    const obs = input.assemblies[a.name];
    let first = obs?.epoch ?? null;
    const sim = new SimAssembly(a.name, {
      newEpoch: () => {
        if (first !== null) {
          const e = first;
          first = null;
          return e;
        }
        const n = (counters.get(a.name) ?? 0) + 1;
        counters.set(a.name, n);
        return `${a.name}.sim${n}`;
      },
      opMs: OP_MS,
    });
    const h = assemblyHealth(a, obs, input.bus, o.now).health;
    // An assembly the input shows silent stays silent; one never heard from too.
    sim.heartbeating = obs?.lastHeartbeat != null && (h === 'up' || h === 'suspect');
    sims.set(a.name, sim);
  }
  for (const [id, s] of Object.entries(input.services)) {
    for (const [assembly, i] of Object.entries(s.instances)) {
      if (i.epoch !== (input.assemblies[assembly]?.epoch ?? null)) continue;
      if (i.state === 'running' || i.state === 'starting') sims.get(assembly)?.seed(id, 'running');
      else if (i.state === 'failed') sims.get(assembly)?.seed(id, 'failed');
    }
  }
  const failingRecovery = new Set<string>();

  // Calls not yet answered (a hung monitor): the run is not over while one is out.
  let outstanding = 0;
  const answer = <T>(
    timeoutMs: number,
    what: string,
    get: () => T | null,
    delayMs: number,
  ): Promise<T> => {
    outstanding += 1;
    return new Promise<T>((resolve, reject) => {
      const value = get();
      if (value === null || delayMs > timeoutMs) {
        clock.setTimeout(
          () =>
            reject(new BusError(BusCode.callTimeout, `${what}: no reply within ${timeoutMs} ms`)),
          timeoutMs,
        );
        return;
      }
      clock.setTimeout(() => resolve(value), delayMs);
    }).finally(() => (outstanding -= 1));
  };

  const agents: AgentPort = {
    inventory: (assembly, timeoutMs) => {
      const sim = sims.get(assembly)!;
      return answer(
        timeoutMs,
        `${assembly}.inventory`,
        () => sim.inventory(),
        sim.inventoryDelayMs,
      );
    },
    call: (assembly, op, spec, timeoutMs) => {
      const sim = sims.get(assembly)!;
      const a = sim.op(op === 'probe' ? 'monitor' : op, spec.resource);
      return answer<OpResult>(
        timeoutMs,
        `${assembly}.${op}`,
        () => (a.kind === 'hang' ? null : { rc: a.rc, text: a.text, epoch: sim.epoch }),
        a.kind === 'hang' ? 0 : a.delayMs,
      );
    },
  };

  const recoveryMs = o.recoveryMs ?? 2000;
  // Within the driver's own timeout, or the executor would give up on it first.
  const takes = (d: AssemblyConfig['recovery']): number =>
    d.driver === 'none' ? recoveryMs : Math.max(1, Math.min(recoveryMs, d.timeoutMs - 1));
  const recovery: RecoveryPort = {
    run: (kind, assembly) =>
      new Promise((resolve) => {
        const sim = sims.get(assembly.name)!;
        if (failingRecovery.has(assembly.name)) {
          clock.setTimeout(
            () => resolve({ ok: false, detail: `simulated ${kind} failure` }),
            recoveryMs,
          );
          return;
        }
        sim.powerOff();
        clock.setTimeout(() => {
          if (kind === 'recover') sim.reboot();
          resolve({
            ok: true,
            detail:
              kind === 'recover' ? `${assembly.name} rebooted` : `${assembly.name} powered off`,
          });
        }, takes(assembly.recovery));
      }),
  };

  let eventId = 0;
  const engine = new DeployableEngine({
    config,
    clock,
    log: silentLogger(),
    agents,
    recovery,
    newId: () => `e${++eventId}`,
    emit: (name, _severity, values) => {
      activity = clock.now();
      line(describeEvent(name, values));
    },
  });
  engine.store.load(input);
  // Heartbeats, each assembly on its own phase, as the input last heard it.
  for (const a of config.assemblies) {
    const sim = sims.get(a.name)!;
    const last = input.assemblies[a.name]?.lastHeartbeat ?? o.now;
    const first =
      a.heartbeat.intervalMs -
      ((((o.now - last) % a.heartbeat.intervalMs) + a.heartbeat.intervalMs) %
        a.heartbeat.intervalMs);
    const beat = (): void => {
      const sequence = sim.beat();
      if (sequence !== null)
        engine.heartbeat(a.name, {
          epoch: sim.epoch,
          sequence,
          metrics: null,
          facts: { hostname: a.name, ipaddress: a.address ?? '' },
        });
      clock.setTimeout(beat, a.heartbeat.intervalMs);
    };
    clock.setTimeout(beat, first === 0 ? a.heartbeat.intervalMs : first);
  }
  for (const f of o.faults) {
    clock.setTimeout(() => {
      activity = clock.now();
      line(
        `fault ${f.kind}${f.target ? ` ${f.target}` : ''}${f.valueMs === null ? '' : ` ${formatDuration(f.valueMs)}`}`,
      );
      inject(f);
    }, f.atMs);
  }

  function inject(f: SimFault): void {
    const sim = sims.get(f.target);
    const running = (): SimAssembly[] => {
      const on = [...sims.values()].filter((s) =>
        s.services().some((x) => x.resource === f.target && x.state === 'running'),
      );
      const home = config.services.find((s) => s.id === f.target)?.home;
      return on.length > 0 ? on : home ? [sims.get(home)!] : [];
    };
    switch (f.kind) {
      case 'bus-down':
        return engine.setBus(false, clock.now());
      case 'bus-up':
        return engine.setBus(true, clock.now());
      case 'fail':
      case 'fail-always':
      case 'clear':
      case 'hang':
        for (const s of running()) {
          if (f.kind === 'hang') s.hang(f.target, true);
          else
            s.fail(f.target, f.kind === 'fail' ? 'once' : f.kind === 'clear' ? 'clear' : 'always');
        }
        return;
    }
    if (!sim) return;
    switch (f.kind) {
      case 'silence':
        sim.heartbeating = false;
        return;
      case 'resume':
        sim.heartbeating = true;
        return;
      case 'crash':
        sim.powerOff();
        return;
      case 'reboot':
        sim.reboot();
        return;
      case 'partition':
        sim.partitioned = true;
        return;
      case 'heal':
        sim.partitioned = false;
        return;
      case 'restart':
        sim.restart();
        return;
      case 'slow':
        sim.delayMs = f.valueMs ?? 0;
        return;
      case 'fail-recovery':
        failingRecovery.add(f.target);
        return;
    }
  }

  for (const f of o.faults) {
    if (f.kind.startsWith('bus-')) continue;
    const wantsService = ['fail', 'fail-always', 'clear', 'hang'].includes(f.kind);
    const known = wantsService
      ? config.services.some((s) => s.id === f.target)
      : sims.has(f.target);
    if (!known)
      throw new CpeError(
        'BAD_FAULT',
        `fault ${f.kind}: no ${wantsService ? 'service' : 'assembly'} "${f.target}" in ${config.name}`,
      );
  }

  // In-flight actions of the input are carried out first.
  engine.executor.submit({
    deployable: config.name,
    now: o.now,
    actions: input.inFlight.map((i): Action => ({
      id: i.id,
      type: i.type,
      ...(i.service === undefined ? {} : { service: i.service }),
      ...(i.assembly === undefined ? {} : { assembly: i.assembly }),
      ...(i.type === 'move' ? { from: i.assembly, to: i.to } : {}),
      after: [],
      priority: 0,
      rule: 'in-flight',
      reason: 'in flight when the input was saved',
      facts: {},
    })),
    vetoed: [],
    waiting: [],
    assemblies: [],
    nextCheckAt: null,
    notes: [],
  });
  engine.start();

  // Quiet for this long, with nothing running or due, is the end.
  const settleMs =
    Math.max(
      ...config.assemblies.map((a) => (a.heartbeat.missed + 2) * a.heartbeat.intervalMs),
      ...config.services.map((s) => s.monitorIntervalMs),
    ) + recoveryMs;
  const limit = start + (o.limitMs ?? 3_600_000);
  const lastFault = Math.max(start, ...o.faults.map((f) => start + f.atMs));
  await engine.loop.idle();
  let reason: 'settled' | 'limit' = 'limit';
  for (;;) {
    const next = clock.nextAt();
    if (next === null || next > limit) break;
    if (
      clock.now() >= lastFault &&
      engine.executor.idle &&
      outstanding === 0 &&
      next - activity > settleMs
    ) {
      reason = 'settled';
      break;
    }
    clock.step();
    await new Promise((r) => setImmediate(r));
    await engine.loop.idle();
  }
  engine.close();
  return { endedMs: clock.now() - start, reason, engine, assemblies: sims };
}
