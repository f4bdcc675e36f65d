/**
 * A randomized crash test: 200 create/update/destroy/start/stop calls on a
 * real CPE (compiled, process supervisor), which is killed with SIGKILL at
 * seeded random points — between calls, and while a call is in flight — and
 * started again. After each restart every answered call's effect is there
 * (an unanswered one may or may not have happened, but nothing else did);
 * at the end no DPE runs for a destroyed or stopped deployable, none runs
 * twice, and each running one runs its stored generation.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import type { QmfMap } from '../../lib/bus/qmf.js';
import { CpeClient, CpeProcess, exampleAs } from '../support/cpe.js';

const CALLS = 200;
const NAMES = ['c0', 'c1', 'c2', 'c3', 'c4'];
const SEED = Number(process.env.CRASH_SEED ?? 20261126);

/** mulberry32: a small seeded PRNG, so that a failing run can be replayed (CRASH_SEED). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What the CPE should hold of a deployable: its config's text and desired state, or nothing. */
interface Held {
  readonly config: string;
  readonly desired: 'running' | 'stopped';
}
type Model = Map<string, Held>;

const uuidOf = (name: string): string =>
  `00000000-0000-4000-8000-${Buffer.from(name).toString('hex').padStart(12, '0')}`;
const configOf = (name: string, version: number): string =>
  exampleAs(name, uuidOf(name)).replace('</deployable>', `<!-- v${version} --></deployable>`);

const pickStatus = (s: QmfMap): QmfMap => ({
  dpe_pid: s.dpe_pid ?? null,
  dpe_ready: s.dpe_ready ?? null,
  dpe_generation: s.dpe_generation ?? null,
  generation: s.generation ?? null,
});

/** The DPE processes this CPE's process supervisor runs, by deployable. */
function dpeProcesses(stateDir: string): Map<string, number[]> {
  const found = new Map<string, number[]>();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmdline: string[];
    let environ: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
    } catch {
      continue; // gone meanwhile, or not ours to read
    }
    if (!cmdline.some((a) => /dpe\/main\.[jt]s$/.test(a))) continue;
    if (!environ.split('\0').includes(`CPE_DPE_STATE_ROOT=${stateDir}/dpe`)) continue;
    const name = cmdline[cmdline.indexOf('--name') + 1] ?? '?';
    found.set(name, [...(found.get(name) ?? []), Number(pid)]);
  }
  return found;
}

describe('the CPE killed with SIGKILL at random points of 200 calls (seeded)', function () {
  this.timeout(600_000);
  let cpe: CpeProcess;
  let api: CpeClient;

  before(async () => {
    cpe = await CpeProcess.create(true);
    await cpe.start();
    api = new CpeClient(cpe.url);
    await api.bus.whenUp(10_000);
  });
  after(async () => {
    for (const name of NAMES)
      await api?.call('deployable_destroy', { name }).catch(() => undefined);
    await api?.close();
    await cpe?.stop();
    rmSync(cpe.stateDir, { recursive: true, force: true });
  });

  /** What the CPE holds now, by name (read back over its API). */
  async function held(): Promise<Model> {
    const m: Model = new Map();
    for (const name of NAMES) {
      try {
        const c = await api.call('deployable_config', { name });
        m.set(name, { config: c.config as string, desired: c.desired as Held['desired'] });
      } catch (err) {
        if ((err as { code?: string }).code !== 'UNKNOWN_DEPLOYABLE') throw err;
      }
    }
    return m;
  }

  const same = (a: Held | undefined, b: Held | undefined): boolean =>
    a?.config === b?.config && a?.desired === b?.desired;

  it('keeps every answered change, and runs exactly the DPEs it should', async () => {
    const random = prng(SEED);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    let model: Model = new Map();
    let version = 0;
    let kills = 0;
    const log: string[] = [];

    for (let i = 0; i < CALLS; i++) {
      const name = pick(NAMES);
      const before = model.get(name);
      const op = pick(['create', 'update', 'destroy', 'start', 'stop'] as const);
      // The call, and what the model holds if it takes effect.
      let call: () => Promise<QmfMap>;
      let after: Held | undefined = before;
      const config = configOf(name, ++version);
      if (op === 'create') {
        call = () => api.call('deployable_create', { name, config });
        if (!before) after = { config, desired: 'running' };
      } else if (op === 'update') {
        call = () => api.call('deployable_update', { name, config });
        if (before) after = { ...before, config };
      } else if (op === 'destroy') {
        call = () => api.call('deployable_destroy', { name });
        after = undefined;
      } else {
        call = () => api.call(`deployable_${op}`, { name, uuid: uuidOf(name) });
        if (before) after = { ...before, desired: op === 'start' ? 'running' : 'stopped' };
      }
      const crash = random() < 0.08;
      const inFlight = call().then(
        () => 'answered' as const,
        (err: { code?: string }) => {
          // Refusals that follow from the model (no such deployable, exists already) are answers too.
          if (['UNKNOWN_DEPLOYABLE', 'DEPLOYABLE_EXISTS'].includes(err.code ?? ''))
            return 'answered' as const;
          if (crash) return 'lost' as const;
          throw err;
        },
      );
      if (!crash) {
        await inFlight;
        model.set(name, after!);
        if (!after) model.delete(name);
        continue;
      }
      // SIGKILL while the call is in flight (or just after), then start again.
      await new Promise((r) => setTimeout(r, Math.floor(random() * 40)));
      await cpe.kill9();
      const outcome = await inFlight;
      kills += 1;
      await cpe.start();
      await api.bus.whenUp(20_000);
      const now = await held();
      for (const n of NAMES) {
        const expected = model.get(n);
        const actual = now.get(n);
        if (n === name && outcome === 'lost')
          assert.ok(
            same(actual, expected) || same(actual, after),
            `call ${i} (${op} ${n}, lost in the crash): neither before nor after it`,
          );
        else if (n === name)
          assert.ok(same(actual, after), `call ${i} (${op} ${n}) was answered but is not there`);
        else
          assert.ok(same(actual, expected), `${n} changed though no call touched it (call ${i})`);
      }
      model = now;
      log.push(`${i}: ${op} ${name} ${outcome}`);
    }
    assert.ok(kills >= 8, `only ${kills} kills: ${log.join('; ')}`);

    // Settled: a DPE per running deployable, on its stored generation; none for the rest.
    const deadline = Date.now() + 60_000;
    let problems: string[] = [];
    while (Date.now() < deadline) {
      problems = [];
      const running = dpeProcesses(cpe.stateDir);
      for (const name of NAMES) {
        const h = model.get(name);
        const pids = running.get(name) ?? [];
        if (!h || h.desired === 'stopped') {
          if (pids.length > 0)
            problems.push(`${name} (${h ? 'stopped' : 'destroyed'}): DPE ${pids.join(', ')} runs`);
          continue;
        }
        if (pids.length !== 1) problems.push(`${name}: ${pids.length} DPEs`);
        const s = await api.call('deployable_status', { name });
        if (s.dpe_ready !== true || s.dpe_generation !== s.generation || s.dpe_pid !== pids[0])
          problems.push(`${name}: ${JSON.stringify({ pids, ...pickStatus(s) })}`);
      }
      for (const name of running.keys())
        if (!NAMES.includes(name)) problems.push(`a DPE for ${name}, never created`);
      if (problems.length === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.deepEqual(problems, [], `after ${kills} kills (seed ${SEED}): ${log.join('; ')}`);
  });
});
