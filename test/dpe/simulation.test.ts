/**
 * The DPE's engine in virtual time against simulated assemblies: the same
 * observations, planner, executor and action functions as the daemon, with
 * faults on schedule. Each test reads the timeline as an operator would.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadPeInput } from '../../cli/pe-input.js';
import { parseFault, simulate, type SimulationResult } from '../../dpe/index.js';

const configs = join(import.meta.dirname, '..', 'pe', 'configs');

interface Run {
  readonly lines: string[];
  readonly result: SimulationResult;
  /** Timeline lines from `fromMs` on. */
  after(fromMs: number): string[];
  where(service: string): string[];
  starts(service: string): number;
}

async function run(config: string, faults: string[] = [], limitMs = 600_000): Promise<Run> {
  const { input, now } = await loadPeInput(join(configs, config));
  const entries: { atMs: number; text: string }[] = [];
  const result = await simulate({
    input,
    now,
    faults: faults.map(parseFault),
    limitMs,
    onLine: (e) => entries.push(e),
  });
  const sims = [...result.assemblies.values()];
  return {
    lines: entries.map((e) => e.text),
    result,
    after: (fromMs) => entries.filter((e) => e.atMs >= fromMs).map((e) => e.text),
    where: (service) =>
      sims
        .filter((a) => a.services().some((s) => s.resource === service && s.state === 'running'))
        .map((a) => a.name),
    starts: (service) =>
      sims.reduce((n, a) => n + (a.services().find((s) => s.resource === service)?.starts ?? 0), 0),
  };
}

const has = (lines: readonly string[], pattern: RegExp): boolean =>
  lines.some((l) => pattern.test(l));
const index = (lines: readonly string[], pattern: RegExp): number =>
  lines.findIndex((l) => pattern.test(l));

describe('the DPE engine, simulated (virtual time)', () => {
  it('starts every service at home, then settles with nothing left to do', async () => {
    const r = await run('basic.xml');
    assert.equal(r.result.reason, 'settled');
    assert.deepEqual(r.where('rsc_a1_web'), ['a1']);
    assert.deepEqual(r.where('rsc_a2_app'), ['a2']);
    assert.deepEqual(r.where('rsc_a3_cache'), ['a3']);
    assert.ok(!has(r.lines, /FAILED/), r.lines.join('\n'));
    assert.ok(has(r.lines, /deployable degraded → running/), r.lines.join('\n'));
  });

  it('restarts a service that failed where it failed', async () => {
    const r = await run('basic.xml', ['fail:rsc_a1_web@5s']);
    const later = r.after(5000);
    assert.ok(
      has(later, /service rsc_a1_web on a1: running → failed \(monitor on a1: rc 7/),
      later.join('\n'),
    );
    assert.ok(has(later, /start {2}restart rsc_a1_web on a1 {2}\[restart-failed-service\]/));
    assert.ok(has(later, /done {3}restart rsc_a1_web on a1/));
    assert.deepEqual(r.where('rsc_a1_web'), ['a1']);
    assert.equal(r.starts('rsc_a1_web'), 2);
    assert.equal(r.result.reason, 'settled');
  });

  it('escalates N failures within P to the assembly, which is recovered', async () => {
    // web escalates after 3 failures within 60 s; on a1 it fails every time.
    const r = await run('basic.xml', ['fail-always:rsc_a1_web@5s']);
    const later = r.after(5000);
    const escalate = index(
      later,
      /start {2}escalate rsc_a1_web on a1 {2}\[escalate-service-to-assembly\]/,
    );
    assert.ok(escalate > 0, later.join('\n'));
    assert.equal(
      later.slice(0, escalate).filter((l) => /start {2}restart rsc_a1_web on a1/.test(l)).length,
      2,
      'two restarts, then the third failure escalates',
    );
    assert.ok(index(later, /start {2}recover-assembly a1/) > escalate);
    assert.ok(has(later, /done {3}recover-assembly a1: a1 rebooted/));
  });

  it('moves the services of an assembly that stopped beating, and calls its recovery driver', async () => {
    const r = await run('basic.xml', ['silence:a1@10s']);
    const later = r.after(10_000);
    const down = index(later, /assembly a1 suspect → down: missed 3 heartbeats/);
    assert.ok(down >= 0, later.join('\n'));
    assert.ok(index(later, /start {2}move rsc_a1_web a1 → a[23]/) > down);
    assert.ok(has(later, /start {2}recover-assembly a1 {2}\[recover-down-assembly\]/));
    assert.ok(has(later, /done {3}recover-assembly a1: a1 rebooted/));
    // Back after its recovery, a1 gets nothing back: failback is "never" by default.
    assert.ok(has(later, /assembly a1 recovering → up/));
    assert.equal(r.where('rsc_a1_web').length, 1);
    assert.notDeepEqual(r.where('rsc_a1_web'), ['a1']);
    assert.equal(r.result.reason, 'settled');
  });

  it('fails back as configured when the home assembly returns', async () => {
    const r = await run('failback.xml', ['crash:f1@5s', 'reboot:f1@30s']);
    assert.deepEqual(r.where('rsc_f1_auto'), ['f1'], r.lines.join('\n'));
    assert.deepEqual(r.where('rsc_f1_never'), ['f2']);
    assert.deepEqual(r.where('rsc_f1_sticky'), ['f2']); // stickiness 100 outweighs home
    assert.ok(has(r.after(30_000), /start {2}move rsc_f1_auto f2 → f1 {2}\[fail-back-home\]/));
  });

  it('keeps one copy when a cut-off assembly returns still running what was moved', async () => {
    const r = await run('failback.xml', ['partition:f1@5s', 'heal:f1@30s']);
    const later = r.after(30_000);
    assert.ok(has(later, /\[stop-duplicate-instances\] rsc_f1_never runs on f1 and f2; keep f2/));
    assert.deepEqual(r.where('rsc_f1_auto'), ['f1'], later.join('\n'));
    assert.deepEqual(r.where('rsc_f1_never'), ['f2']);
    assert.deepEqual(r.where('rsc_f1_sticky'), ['f2']);
  });

  it('starts a never-twice service elsewhere only once the fence is confirmed', async () => {
    const r = await run('unique.xml', ['crash:d1@5s']);
    const later = r.after(5000);
    const fenced = index(later, /done {3}fence-assembly d1/);
    const moved = index(later, /start {2}move rsc_d1_db d1 → d2/);
    const stateless = index(later, /start {2}move rsc_d1_stateless d1 → d2/);
    assert.ok(fenced >= 0 && moved > fenced, later.join('\n'));
    assert.ok(stateless >= 0 && stateless < fenced, 'a stateless service does not wait');
    assert.deepEqual(r.where('rsc_d1_db'), ['d2']);
  });

  it('moves nothing while the bus is down, nor when it returns after 30 s', async () => {
    const r = await run('basic.xml', ['bus-down@10s', 'bus-up@40s']);
    const later = r.after(10_000);
    assert.ok(!has(later, /start {2}(move|start|restart|recover-assembly)/), later.join('\n'));
    assert.ok(has(later, /deployable running → unknown: the DPE is not connected to the bus/));
    assert.ok(has(later, /deployable unknown → running/));
    for (const s of ['rsc_a1_web', 'rsc_a2_app', 'rsc_a3_cache']) assert.equal(r.starts(s), 1);
  });

  it('asks a restarted agent what it runs instead of restarting anything', async () => {
    const r = await run('basic.xml', ['restart:a1@10s', 'restart:a2@12s']);
    const later = r.after(10_000);
    assert.ok(!has(later, /start {2}(move|start|restart|stop)/), later.join('\n'));
    assert.equal(r.starts('rsc_a1_web'), 1);
    assert.deepEqual(r.where('rsc_a1_web'), ['a1']);
    const a1 = r.result.engine.status().assemblies as { name: string; epoch: string }[];
    assert.equal(a1.find((a) => a.name === 'a1')!.epoch, 'a1.sim1', 'the new session is taken');
  });

  it('takes a hung monitor for a failure, never a hang', async () => {
    const r = await run('basic.xml', ['hang:rsc_a3_cache@5s'], 600_000);
    const later = r.after(5000);
    assert.ok(
      has(
        later,
        /service rsc_a3_cache on a3: running → failed \(monitor on a3: .*no reply within 60000 ms/,
      ),
      later.join('\n'),
    );
    assert.ok(has(later, /start {2}restart rsc_a3_cache on a3/));
  });

  it('refuses faults that name nothing in the deployable', async () => {
    await assert.rejects(run('basic.xml', ['silence:nosuch']), { code: 'BAD_FAULT' });
    await assert.rejects(run('basic.xml', ['fail:a1']), { code: 'BAD_FAULT' });
    assert.throws(() => parseFault('explode:a1'), { code: 'BAD_FAULT' });
    assert.throws(() => parseFault('silence'), { code: 'BAD_FAULT' });
    assert.throws(() => parseFault('bus-down:a1'), { code: 'BAD_FAULT' });
    assert.deepEqual(parseFault('slow:a1=2s@1m'), {
      kind: 'slow',
      target: 'a1',
      valueMs: 2000,
      atMs: 60_000,
    });
  });

  it('gives the same timeline every time', async () => {
    const a = await run('unique.xml', ['crash:d1@5s', 'fail:rsc_n1_solo@3s']);
    const b = await run('unique.xml', ['crash:d1@5s', 'fail:rsc_n1_solo@3s']);
    assert.deepEqual(a.lines, b.lines);
  });
});
