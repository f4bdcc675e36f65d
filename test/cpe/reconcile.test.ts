import assert from 'node:assert/strict';
import { Reconciler, SYSTEMD_GRACE_MS, type DesiredStates } from '../../cpe/reconcile.js';
import type { DeployableRecord } from '../../cpe/store.js';
import { isUp, type DpeChange, type DpeState, type DpeSupervisor } from '../../cpe/supervisor.js';
import { silentLogger } from '../../lib/log.js';
import { FakeClock, settle } from '../support/fake-clock.js';

/** Records what the reconciler asks; `gate` holds starts until released. */
class FakeSupervisor implements DpeSupervisor {
  readonly calls: string[] = [];
  readonly states = new Map<string, DpeState>();
  failStarts = 0;
  gate: Promise<void> | undefined;

  constructor(readonly kind: 'systemd' | 'process' = 'process') {}

  async start(name: string): Promise<void> {
    this.calls.push(`start ${name}`);
    await this.gate;
    if (this.failStarts > 0) {
      this.failStarts--;
      throw new Error('no');
    }
    this.states.set(name, 'active');
  }
  stop(name: string): Promise<void> {
    this.calls.push(`stop ${name}`);
    this.states.set(name, 'inactive');
    return Promise.resolve();
  }
  reload(): Promise<void> {
    return Promise.resolve();
  }
  state(name: string): DpeState {
    return this.states.get(name) ?? 'inactive';
  }
  pid(): number | undefined {
    return undefined;
  }
  running(): Promise<string[]> {
    return Promise.resolve([...this.states].filter(([, s]) => isUp(s)).map(([n]) => n));
  }
  onChange(_listener: (change: DpeChange) => void): void {}
  close(): Promise<void> {
    return Promise.resolve();
  }
}

class FakeStore implements DesiredStates {
  readonly records = new Map<string, DeployableRecord>();

  want(name: string, desired: 'running' | 'stopped' = 'running'): void {
    this.records.set(name, {
      name,
      uuid: `uuid-${name}`,
      config: '<deployable/>',
      configHash: 'h',
      desired,
      generation: 1,
      createdAt: 0,
      updatedAt: 0,
    });
  }
  get(name: string): Promise<DeployableRecord | null> {
    return Promise.resolve(this.records.get(name) ?? null);
  }
  list(): Promise<DeployableRecord[]> {
    return Promise.resolve([...this.records.values()]);
  }
}

function setup(kind: 'systemd' | 'process' = 'process') {
  const store = new FakeStore();
  const supervisor = new FakeSupervisor(kind);
  const clock = new FakeClock();
  const reconciler = new Reconciler(store, supervisor, silentLogger(), { clock });
  return { store, supervisor, clock, reconciler };
}

describe('cpe/reconcile (fake supervisor and clock)', () => {
  it('starts the DPE of a deployable that should run, once', async () => {
    const { store, supervisor, reconciler } = setup();
    store.want('a');
    await reconciler.enqueue('a');
    await reconciler.enqueue('a');
    assert.deepEqual(supervisor.calls, ['start a']);
  });

  it('stops the DPE of a destroyed or stopped deployable, and leaves others alone', async () => {
    const { store, supervisor, reconciler } = setup();
    supervisor.states.set('gone', 'active');
    supervisor.states.set('b', 'active');
    store.want('b', 'stopped');
    supervisor.states.set('c', 'active');
    store.want('c');
    await reconciler.resync();
    assert.deepEqual(supervisor.calls.sort(), ['stop b', 'stop gone']);
  });

  it('never runs two passes for one name at once, and runs one more after', async () => {
    const { store, supervisor, reconciler } = setup();
    store.want('a');
    let release!: () => void;
    supervisor.gate = new Promise((r) => (release = r));
    const passes = [reconciler.enqueue('a'), reconciler.enqueue('a'), reconciler.enqueue('a')];
    await settle();
    assert.deepEqual(supervisor.calls, ['start a']);
    store.records.delete('a'); // changed meanwhile: the pass after must see it
    release();
    await Promise.all(passes);
    await settle();
    assert.deepEqual(supervisor.calls, ['start a', 'stop a']);
  });

  it('restarts a DPE that keeps stopping after 1 s, 2 s, 4 s … at most 60 s', async () => {
    const { store, supervisor, clock, reconciler } = setup();
    store.want('a');
    await reconciler.enqueue('a');
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      supervisor.states.set('a', 'failed');
      await reconciler.enqueue('a');
      assert.equal(supervisor.calls.length, i + 1, 'not restarted at once');
      const [delay] = clock.pending;
      delays.push(delay!);
      await clock.advance(delay! - 1);
      assert.equal(supervisor.calls.length, i + 1, 'not restarted early');
      await clock.advance(1);
      assert.equal(supervisor.calls.length, i + 2, 'restarted when the delay is over');
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
  });

  it('forgets old restarts: after 10 quiet minutes a stopped DPE starts again at once', async () => {
    const { store, supervisor, clock, reconciler } = setup();
    store.want('a');
    await reconciler.enqueue('a');
    supervisor.states.set('a', 'failed');
    await clock.advance(600_000);
    await reconciler.enqueue('a');
    assert.deepEqual(supervisor.calls, ['start a', 'start a']);
  });

  it('gives systemd time to restart a failed DPE itself before starting it', async () => {
    const { store, supervisor, clock, reconciler } = setup('systemd');
    store.want('a');
    store.want('b');
    supervisor.states.set('a', 'failed');
    supervisor.states.set('b', 'failed');
    await reconciler.resync();
    assert.deepEqual(supervisor.calls, []);
    await clock.advance(SYSTEMD_GRACE_MS / 2);
    supervisor.states.set('a', 'active'); // systemd restarted this one
    await clock.advance(SYSTEMD_GRACE_MS / 2);
    assert.deepEqual(supervisor.calls, ['start b']);
  });

  it('retries a pass that failed', async () => {
    const { store, supervisor, clock, reconciler } = setup();
    store.want('a');
    supervisor.failStarts = 1;
    await reconciler.enqueue('a');
    assert.equal(supervisor.state('a'), 'inactive');
    await clock.advance(clock.pending[0]!);
    assert.deepEqual(supervisor.calls, ['start a', 'start a']);
    assert.equal(supervisor.state('a'), 'active');
  });

  it('does nothing once closed', async () => {
    const { store, supervisor, clock, reconciler } = setup();
    store.want('a');
    supervisor.failStarts = 1;
    await reconciler.enqueue('a');
    reconciler.close();
    assert.deepEqual(clock.pending, []);
    await reconciler.enqueue('a');
    assert.deepEqual(supervisor.calls, ['start a']);
  });
});
