/**
 * Agent benchmarks, on the compiled daemons: a CPE (embedded router,
 * process supervisor), its DPE, and real `cpe-agent` processes running
 * Debian's ocf:heartbeat:Dummy (resource-agents).
 *
 * - ocf_monitor_rtt: a monitor call as the DPE makes it — over the bus to
 *   the agent, which runs Dummy's monitor (a shell, its shell functions, a
 *   file test) and answers — timed at the caller.
 * - agent_idle_rss_mb: an agent that manages one Dummy, idle 10 s.
 * - recovery_after_deadline_ocf: as the dpe group's, with real agents: an
 *   agent is frozen (SIGSTOP: a hung host), from its heartbeat deadline to
 *   the event saying its Dummy runs on another assembly.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_OBJECT, agentNode } from '../lib/addresses.js';
import { specArgs } from '../lib/agent/protocol.js';
import { startRealAgents, testOcfRoot, type RealAgent } from '../test/support/real-agent.js';
import { median, percentile, type Figures } from './report.js';
import { recovery, recoveryFigures, rig, statusMb, status, type Rig } from './dpe.js';
import { waitFor } from '../test/support/dpe.js';
import { qmfText, type QmfMap } from '../lib/bus/qmf.js';

const ASSEMBLIES = 10;
const CALLS = 300;

export async function runAgent(): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'cpe-bench-agent-'));
  const ocfRoot = testOcfRoot();
  const agents = new Map<string, RealAgent>();
  let r: Rig | undefined;
  try {
    r = await rig('bench-agent', ASSEMBLIES, undefined, {
      agents: false,
      service: 'class="ocf" provider="heartbeat" type="Dummy"',
      beforeCreate: (_api, cpe) =>
        startRealAgents(
          Array.from({ length: ASSEMBLIES }, (_, i) => `a${i + 1}`),
          { deployable: 'bench-agent', cpe, dir, ocfRoot, compiled: true },
          agents,
        ),
    });
    const rig_ = r;
    const s = await waitFor(
      () => status(rig_),
      (x) => x.state === 'running',
      120_000,
      'running',
    );
    const placed = (s.services as QmfMap[]).find((x) => qmfText(x.assembly) === 'a1');
    const figures: Figures = {};

    // The monitor round trip, as the DPE's call makes it.
    const spec = {
      resource: qmfText(placed?.id),
      class: 'ocf' as const,
      type: 'Dummy',
      provider: 'heartbeat',
      parameters: {},
    };
    const target = { address: agentNode('bench-agent', 'a1'), object: AGENT_OBJECT };
    const times: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      const t = performance.now();
      const answer = await r.api.client.call(target, 'monitor', specArgs(spec, 5000, 5000), 10_000);
      times.push(performance.now() - t);
      if (answer.rc !== 0) throw new Error(`monitor answered rc ${qmfText(answer.rc)}`);
    }
    figures.ocf_monitor_rtt_median_ms = {
      value: median(times),
      unit: 'ms',
      note: `${CALLS} monitors of ocf:heartbeat:Dummy through the embedded router`,
    };
    figures.ocf_monitor_rtt_p99_ms = { value: percentile(times, 99), unit: 'ms' };

    await new Promise((res) => setTimeout(res, 10_000));
    figures.agent_idle_rss_mb = {
      value: statusMb(agents.get('a2')!.child!.pid!, 'VmRSS'),
      unit: 'MB',
      note: 'an agent managing one Dummy, idle 10 s (a bare node process: ~39 MB)',
    };

    const stopped = async (assembly: string, silent: boolean): Promise<void> => {
      agents.get(assembly)!.child!.kill(silent ? 'SIGSTOP' : 'SIGCONT');
      return Promise.resolve();
    };
    Object.assign(
      figures,
      recoveryFigures(
        await recovery(r, ASSEMBLIES, stopped),
        '_ocf',
        `${ASSEMBLIES} real agents frozen in turn (SIGSTOP), Dummy moved`,
      ),
    );
    return figures;
  } finally {
    await r?.close();
    for (const a of agents.values()) {
      a.child?.kill('SIGCONT');
      await a.stop();
    }
    rmSync(dir, { recursive: true, force: true });
    rmSync(ocfRoot, { recursive: true, force: true });
  }
}
