import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildProblem } from '../../bench/pe-problem.js';
import { loadPeInput } from '../../cli/pe-input.js';
import { loadDeployableConfig } from '../../lib/config/index.js';
import { RuleRunner } from '../../pe/engine.js';
import { plan, readPeInput, type PeInput } from '../../pe/index.js';
import { listCases, CASES_DIR } from './case-runner.js';

const json = (value: unknown): string => JSON.stringify(value);

/** The same input with every map and list written in reverse order. */
function reversed(input: PeInput): PeInput {
  const flip = <T>(record: Readonly<Record<string, T>>): Record<string, T> =>
    Object.fromEntries(Object.entries(record).reverse());
  return {
    ...input,
    assemblies: flip(input.assemblies),
    services: Object.fromEntries(
      Object.entries(input.services)
        .reverse()
        .map(([id, s]) => [id, { ...s, instances: flip(s.instances) }]),
    ),
    inFlight: [...input.inFlight].reverse(),
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

describe('policy engine', () => {
  const sample = listCases().filter((_, i) => i % 3 === 0);

  it('gives the same plan, byte for byte, for the same input in any order', async () => {
    for (const name of sample) {
      const { input, now } = await loadPeInput(join(CASES_DIR, name, 'input.json'));
      const first = json(await plan(input, now));
      assert.equal(json(await plan(input, now)), first, name);
      assert.equal(json(await plan(reversed(input), now)), first, `${name} (reordered input)`);
    }
  });

  it('never changes its input', async () => {
    for (const name of sample) {
      const { input, now } = await loadPeInput(join(CASES_DIR, name, 'input.json'));
      const before = json(input);
      await plan(deepFreeze(input), now); // a write would throw on the frozen input
      assert.equal(json(input), before, name);
    }
  });

  it('plans concurrently exactly as one at a time (json-rules-engine runs never overlap)', async () => {
    const inputs = await Promise.all(
      listCases().map(async (name) => loadPeInput(join(CASES_DIR, name, 'input.json'))),
    );
    const sequential: string[] = [];
    for (const { input, now } of inputs) sequential.push(json(await plan(input, now)));
    const concurrent = await Promise.all(
      inputs.map(async ({ input, now }) => json(await plan(input, now))),
    );
    assert.deepEqual(concurrent, sequential);
  });

  it('serialises overlapping calls on one rule runner', async () => {
    const { config } = await loadDeployableConfig(
      readFileSync(join(import.meta.dirname, 'configs', 'custom.xml')),
    );
    const runner = new RuleRunner(config.rules);
    const facts = ['service-failed', 'service-lost', 'assembly-suspect', 'assembly-down'].flatMap(
      (situation) =>
        ['web', 'batch', 'db'].map((name) => ({
          situation,
          service: { name, escalate: false },
          assembly: { name: name === 'db' ? 'maint' : 'flaky', escalate: false, load1: 9 },
          deployable: { monitor: 'active' },
          now: 1,
        })),
    );
    const alone: string[] = [];
    for (const f of facts) alone.push(json(await new RuleRunner(config.rules).decide(f)));
    const together = await Promise.all(facts.map(async (f) => json(await runner.decide(f))));
    assert.deepEqual(together, alone);
  });

  it('memoises decisions on the values the rules read: null and missing apart, objects by value', async () => {
    const runner = new RuleRunner([
      {
        name: 'flag-null',
        priority: 50,
        conditions: { all: [{ fact: 'service', path: '$.flag', operator: 'equal', value: null }] },
        event: { type: 'notify' },
        line: 1,
      },
      {
        name: 'tags',
        priority: 50,
        conditions: {
          all: [{ fact: 'service', path: '$.tags', operator: 'contains', value: 'x' }],
        },
        event: { type: 'notify' },
        line: 2,
      },
    ]);
    const facts = (service: Record<string, unknown>) => ({
      situation: 'service-failed',
      service,
      assembly: null,
      deployable: {},
      now: 1,
    });
    const fired = async (service: Record<string, unknown>) =>
      (runner.known(facts(service)) ?? (await runner.decide(facts(service))))
        .filter((d) => d.custom)
        .map((d) => d.rule);
    assert.deepEqual(await fired({ flag: null }), ['custom:flag-null']);
    assert.equal(runner.known(facts({})), undefined, 'a missing value is not null');
    assert.deepEqual(await fired({}), []);
    assert.deepEqual(await fired({ flag: null, tags: ['x'] }), ['custom:flag-null', 'custom:tags']);
    const runs = runner.runs;
    assert.deepEqual(await fired({ flag: null, tags: ['x'] }), ['custom:flag-null', 'custom:tags']);
    assert.equal(runner.runs, runs, 'an equal list is the same value');
    assert.deepEqual(await fired({ flag: null, tags: '["x"]' }), ['custom:flag-null']);
  });

  it('runs the rules engine once per distinct situation, not per service', async () => {
    const problem = await buildProblem({
      assemblies: 200,
      servicesPerAssembly: 5,
      down: 20,
      stickiness: 0,
      constraints: false,
    });
    const result = await plan(problem.input, problem.now);
    const moves = result.plan.actions.filter((a) => a.type === 'move');
    assert.equal(moves.length, 100);
    assert.equal(result.plan.actions.filter((a) => a.type === 'recover-assembly').length, 20);
    assert.ok(result.ruleRuns <= 4, `${result.ruleRuns} engine runs`);
    // Spread: no surviving assembly takes more than one of the moved services.
    const targets = new Map<string, number>();
    for (const m of moves) targets.set(m.to!, (targets.get(m.to!) ?? 0) + 1);
    assert.ok([...targets.values()].every((n) => n === 1));
  });

  it('explains placement scores on request', async () => {
    const { input, now } = await loadPeInput(
      join(CASES_DIR, 'coloc-preference-follows-api', 'input.json'),
    );
    const { explanations } = await plan(input, now, { explain: ['rsc_h3_worker', 'rsc_nope'] });
    assert.equal(explanations.length, 2);
    const [worker, none] = explanations; // sorted by service id
    assert.deepEqual(none, { service: 'rsc_nope', chosen: null, candidates: [] });
    assert.equal(worker?.chosen, 'h2');
    const h2 = worker?.candidates.find((c) => c.assembly === 'h2');
    assert.deepEqual(h2?.parts, { 'with rsc_h2_api': 50 });
    assert.equal(
      worker?.candidates.find((c) => c.assembly === 'h3')?.excludedBy,
      'being moved away from it',
    );
  });
});

describe('policy engine input', () => {
  const config = (async () =>
    (await loadDeployableConfig(readFileSync(join(import.meta.dirname, 'configs', 'basic.xml'))))
      .config)();

  const problem = async (raw: unknown): Promise<string> => {
    try {
      readPeInput(raw, await config);
      return 'accepted';
    } catch (err) {
      return `${(err as { code: string }).code}: ${(err as Error).message}`;
    }
  };

  it('fills in what may be left out', async () => {
    const { input } = readPeInput(
      { now: 5, assemblies: { a1: { lastHeartbeat: 4 } } },
      await config,
    );
    assert.deepEqual(input.bus, { connected: true, since: 0 });
    assert.deepEqual(input.assemblies.a1, {
      lastHeartbeat: 4,
      epoch: null,
      metrics: null,
      recovery: null,
      failures: [],
      lastEscalation: null,
    });
    assert.deepEqual(input.inFlight, []);
  });

  it('names the field and the problem', async () => {
    assert.equal(await problem({}), 'PE_BAD_INPUT: input.now: expected a time in ms');
    assert.equal(
      await problem({ now: 1, surprise: 1 }),
      'PE_BAD_INPUT: input.surprise: unknown field (expected: description, now, config, bus, assemblies, services, inFlight, lastDeployableEscalation)',
    );
    assert.equal(
      await problem({ now: 1, assemblies: { zz: {} } }),
      'PE_BAD_INPUT: input.assemblies.zz: no such assembly in the config',
    );
    assert.equal(
      await problem({
        now: 1,
        services: { rsc_a1_web: { instances: { a1: { state: 'dancing' } } } },
      }),
      'PE_BAD_INPUT: input.services.rsc_a1_web.instances.a1.state: expected one of running, stopped, failed, starting, stopping, unknown',
    );
    assert.equal(
      await problem({ now: 1, services: { rsc_a1_web: { failures: [5, 3] } } }),
      'PE_BAD_INPUT: input.services.rsc_a1_web.failures: times must be in ascending order',
    );
    assert.equal(
      await problem({ now: 1, assemblies: { a1: { metrics: { load1: -1 } } } }),
      'PE_BAD_INPUT: input.assemblies.a1.metrics.load1: expected a number ≥ 0',
    );
    assert.equal(
      await problem({ now: 1, inFlight: [{ id: 'x', type: 'dance' }] }),
      'PE_BAD_INPUT: input.inFlight[0].type: expected one of start, stop, restart, move, probe, recover-assembly, fence-assembly, escalate, notify, blocked',
    );
    assert.equal(
      await problem({ now: Number.NaN }),
      'PE_BAD_INPUT: input.now: expected a time in ms',
    );
  });
});
