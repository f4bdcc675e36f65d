import assert from 'node:assert/strict';
import { VirtualClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/log.js';
import { Executor, type ActionResult, type ActionTable } from '../../dpe/executor.js';
import { ACTION_TYPES, type Action, type ActionType, type Plan } from '../../pe/index.js';

/** A table whose actions end when the test says so. */
function harness(timeoutMs = 10_000) {
  const clock = new VirtualClock(1000);
  const started: string[] = [];
  const timedOut: string[] = [];
  const phases: string[] = [];
  const open = new Map<string, (r: ActionResult) => void>();
  const handler = {
    run: (a: Action) =>
      new Promise<ActionResult>((resolve) => {
        started.push(a.id);
        open.set(a.id, resolve);
      }),
    timedOut: (a: Action) => void timedOut.push(a.id),
  };
  const types = ACTION_TYPES.filter((t) => t !== 'blocked');
  const table = Object.fromEntries(types.map((t) => [t, handler])) as unknown as ActionTable;
  let settled = 0;
  const executor = new Executor({
    table,
    clock,
    log: silentLogger(),
    timeoutOf: () => timeoutMs,
    onPhase: (phase, a) => phases.push(`${phase} ${a.id}`),
    onSettled: () => (settled += 1),
  });
  const end = async (id: string, ok = true): Promise<void> => {
    open.get(id)!({ ok, detail: ok ? 'done' : 'failed' });
    open.delete(id);
    await new Promise((r) => setImmediate(r));
  };
  return { clock, executor, started, timedOut, phases, end, settled: () => settled };
}

function action(id: string, type: ActionType, extra: Partial<Action> = {}): Action {
  return { id, type, after: [], priority: 50, rule: 'test', reason: id, facts: {}, ...extra };
}

function plan(...actions: Action[]): Plan {
  return {
    deployable: 'd',
    now: 0,
    actions,
    vetoed: [],
    waiting: [],
    assemblies: [],
    nextCheckAt: null,
    notes: [],
  };
}

describe('the executor', () => {
  it('runs an action after the ones it waits for, and drops it when one of them failed', async () => {
    const h = harness();
    h.executor.submit(
      plan(
        action('fence', 'fence-assembly', { assembly: 'a' }),
        action('move', 'move', { service: 's', after: ['fence'] }),
        action('stop', 'stop', { service: 't' }),
      ),
    );
    assert.deepEqual(h.started, ['fence', 'stop']);
    await h.end('fence');
    assert.deepEqual(h.started, ['fence', 'stop', 'move']);

    const g = harness();
    g.executor.submit(
      plan(
        action('fence', 'fence-assembly', { assembly: 'a' }),
        action('move', 'move', { service: 's', after: ['fence'] }),
      ),
    );
    await g.end('fence', false);
    assert.deepEqual(g.started, ['fence']);
    assert.ok(g.executor.idle);
  });

  it('never runs an id twice at once, nor an incident it has dealt with', async () => {
    const h = harness();
    const notify = action('notify:x:1', 'notify');
    const start = action('start:s@a', 'start', { service: 's', assembly: 'a' });
    h.executor.submit(plan(notify, start));
    h.executor.submit(plan(notify, start));
    assert.deepEqual(h.started, ['notify:x:1', 'start:s@a']);
    await h.end('notify:x:1');
    await h.end('start:s@a');
    h.executor.submit(plan(notify, start));
    // A notification of the same incident is said once; a start may rightly come again.
    assert.deepEqual(h.started, ['notify:x:1', 'start:s@a', 'start:s@a']);
  });

  it('keeps an action waiting on one still running that a newer plan does not touch', async () => {
    const h = harness();
    h.executor.submit(
      plan(
        action('restart:first', 'restart', { service: 'first' }),
        action('restart:then', 'restart', { service: 'then', after: ['restart:first'] }),
      ),
    );
    // Planned while first restarts, the next plan knows nothing of then's cascade.
    h.executor.submit(plan(action('notify:y', 'notify')));
    await h.end('restart:first');
    assert.ok(h.started.includes('restart:then'));
    // But a newer plan that acts on the same service replaces it.
    const g = harness();
    g.executor.submit(
      plan(
        action('restart:first', 'restart', { service: 'first' }),
        action('restart:then', 'restart', { service: 'then', after: ['restart:first'] }),
      ),
    );
    g.executor.submit(plan(action('stop:then', 'stop', { service: 'then' })));
    await g.end('restart:first');
    assert.deepEqual(g.started, ['restart:first', 'stop:then']);
  });

  it('gives up on an action past its timeout, records what it leaves, and ignores its late end', async () => {
    const h = harness(5000);
    h.executor.submit(plan(action('start:s@a', 'start', { service: 's', assembly: 'a' })));
    assert.deepEqual(
      h.executor.inFlight().map((a) => [a.id, a.startedAt]),
      [['start:s@a', 1000]],
    );
    h.clock.step();
    assert.equal(h.clock.now(), 6000);
    assert.deepEqual(h.timedOut, ['start:s@a']);
    assert.deepEqual(h.phases, ['started start:s@a', 'failed start:s@a']);
    assert.equal(h.settled(), 1);
    await h.end('start:s@a');
    assert.deepEqual(h.phases, ['started start:s@a', 'failed start:s@a']);
    assert.equal(h.settled(), 1);
  });

  it('reports a move in flight on the assembly it leaves, with its destination', () => {
    const h = harness();
    h.executor.submit(plan(action('move:s:a>b', 'move', { service: 's', from: 'a', to: 'b' })));
    assert.deepEqual(h.executor.inFlight(), [
      { id: 'move:s:a>b', type: 'move', service: 's', assembly: 'a', to: 'b', startedAt: 1000 },
    ]);
  });
});
