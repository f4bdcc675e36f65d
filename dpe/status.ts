/**
 * What the DPE says of its deployable: the whole deployable's state, each
 * assembly (health, last beat, missed beats, epoch) and each service (where
 * it runs, its state, recent failures, the action in flight) — the DPE's
 * `status` method, which the CPE's deployable_status includes.
 */
import type { QmfMap } from '../lib/bus/qmf.js';
import type { DeployableConfig } from '../lib/config/index.js';
import type { Plan } from '../pe/index.js';
import type { DeployableEngine } from './engine.js';
import type { Observations } from './observations.js';

export type DpeStatus = QmfMap;

/** Failures listed per service in the status. */
const RECENT_FAILURES = 5;

export interface DeployableState {
  readonly state: 'unknown' | 'starting' | 'running' | 'degraded' | 'down';
  readonly reason: string;
  /** Assemblies up (or suspect) of all; services running on one of those, of all watched. */
  readonly counts: {
    readonly assembliesUp: number;
    readonly assemblies: number;
    readonly servicesRunning: number;
    readonly services: number;
  };
}

export function deployableState(
  config: DeployableConfig,
  store: Observations,
  plan: Plan,
): DeployableState {
  const tally = { up: 0, suspect: 0, down: 0, recovering: 0, unknown: 0 };
  for (const a of plan.assemblies) tally[a.health] += 1;
  const reachable = new Set(
    plan.assemblies.filter((a) => a.health === 'up' || a.health === 'suspect').map((a) => a.name),
  );
  const total = config.monitor === 'active' ? config.services.length : 0;
  const runningCount = config.services.filter((s) =>
    [...(store.services.get(s.id)?.instances ?? [])].some(
      ([a, i]) => i.state === 'running' && reachable.has(a),
    ),
  ).length;
  const troubled = plan.assemblies
    .filter((a) => a.health !== 'up')
    .map((a) => `${a.name} ${a.health}`);
  const services = total > 0 ? `${runningCount} of ${total} services running` : 'passive';
  const counts = {
    assembliesUp: reachable.size,
    assemblies: plan.assemblies.length,
    servicesRunning: runningCount,
    services: total,
  };
  if (!store.bus.connected)
    return { state: 'unknown', reason: 'the DPE is not connected to the bus', counts };
  if (tally.up + tally.suspect === 0 && tally.down + tally.recovering > 0)
    return { state: 'down', reason: `no assembly is up (${troubled.join(', ')})`, counts };
  if (tally.unknown > 0 && runningCount < total)
    return {
      state: 'starting',
      reason: `${services}; not heard from yet: ${troubled.join(', ')}`,
      counts,
    };
  if (runningCount === total && troubled.length === 0)
    return { state: 'running', reason: `${services}, every assembly up`, counts };
  return {
    state: 'degraded',
    reason: `${services}${troubled.length > 0 ? `; ${troubled.join(', ')}` : ''}`,
    counts,
  };
}

export function statusOf(
  engine: DeployableEngine,
  now: number,
  state: DeployableState | null,
): DpeStatus {
  const { store, config } = engine;
  const plan = engine.loop.lastPlan;
  const running = [...engine.executor.running()];
  const blocked = engine.executor.blocked();
  const date = (t: number | null): Date | null => (t === null ? null : new Date(t));
  const reachable = new Set(
    config.assemblies.filter((a) => store.reachable(config, a.name, now)).map((a) => a.name),
  );
  return {
    deployable: config.name,
    state: state?.state ?? 'unknown',
    reason: state?.reason ?? 'no plan yet',
    bus_connected: store.bus.connected,
    heartbeats_received: engine.heartbeats,
    passes: engine.loop.passes,
    last_plan: plan ? new Date(plan.now) : null,
    assemblies: config.assemblies.map((a) => {
      const r = store.assemblies.get(a.name)!;
      const h = store.health(config, a.name, now)!;
      return {
        name: a.name,
        health: h.health,
        reason: h.reason,
        last_heartbeat: date(r.lastHeartbeat),
        missed_beats: h.missedBeats,
        epoch: r.epoch,
        sequence: r.sequence,
        sequence_gaps: r.gaps,
        metrics: r.metrics ? { ...r.metrics } : null,
        recovery: r.recovery ? { ...r.recovery, at: new Date(r.recovery.at) } : null,
      };
    }),
    services: config.services.map((s) => {
      const r = store.services.get(s.id)!;
      const instances = [...r.instances].sort(([x], [y]) => (x < y ? -1 : 1));
      // Where it runs: on an assembly that can still be asked; a lost one may still run it too.
      const where = instances
        .filter(([a, i]) => i.state === 'running' && reachable.has(a))
        .map(([a]) => a);
      const action = running.find((a) => a.service === s.id);
      const block = blocked.find((a) => a.service === s.id);
      return {
        id: s.id,
        state: block
          ? 'blocked'
          : summary(instances.filter(([a]) => reachable.has(a)).map(([, i]) => i.state)),
        assembly: where[0] ?? null,
        instances: instances.map(([assembly, i]) => ({
          assembly,
          state: i.state,
          since: new Date(i.since),
          reachable: reachable.has(assembly),
        })),
        failures: r.failures.slice(-RECENT_FAILURES).map((t) => new Date(t)),
        in_flight: action ? { id: action.id, type: action.type } : null,
        blocked: block ? block.reason : null,
      };
    }),
    in_flight: running.map((a) => ({ id: a.id, type: a.type, rule: a.rule, reason: a.reason })),
    pending: engine.executor.pending().length,
  };
}

function summary(states: readonly string[]): string {
  if (states.includes('running')) return 'running';
  for (const s of ['starting', 'stopping', 'failed', 'unknown']) if (states.includes(s)) return s;
  return 'stopped';
}

/** Cheap whatever the deployable's size: for monitoring and benchmarks. */
export function countersOf(engine: DeployableEngine): QmfMap {
  const m = process.memoryUsage();
  const mb = (n: number): number => Math.round((n / 1048576) * 10) / 10;
  return {
    heartbeats_received: engine.heartbeats,
    passes: engine.loop.passes,
    monitor_calls: engine.monitor.calls,
    rss_mb: mb(m.rss),
    heap_used_mb: mb(m.heapUsed),
    heap_total_mb: mb(m.heapTotal),
    external_mb: mb(m.external),
    array_buffers_mb: mb(m.arrayBuffers),
  };
}
