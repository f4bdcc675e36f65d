import assert from 'node:assert/strict';
import { assemblyHealth, failureWindow, SUSPECT_AFTER_INTERVALS } from '../../pe/index.js';
import { parsePath, resolvePath } from '../../pe/path.js';
import type { AssemblyConfig } from '../../lib/config/index.js';

describe('failure window (as the original counted it)', () => {
  const policy = { failures: 3, periodMs: 10_000 };
  it('escalates when the last N failures are at most P apart', () => {
    assert.deepEqual(failureWindow([1000, 5000, 11_000], null, policy), {
      counted: 3,
      escalate: true,
      span: 10_000,
    });
    assert.deepEqual(failureWindow([1000, 5000, 11_001], null, policy), {
      counted: 3,
      escalate: false,
      span: 10_001,
    });
  });
  it('looks at the last N only', () => {
    assert.equal(failureWindow([0, 1, 2, 50_000, 55_000, 59_000], null, policy).escalate, true);
    assert.equal(failureWindow([0, 1, 2, 50_000, 55_000, 61_000], null, policy).escalate, false);
  });
  it('counts only failures after the last escalation', () => {
    assert.deepEqual(failureWindow([1000, 2000, 3000], 2000, policy), {
      counted: 1,
      escalate: false,
      span: null,
    });
  });
  it('never escalates without a policy (INFINITY / -1)', () => {
    assert.equal(failureWindow([1, 2, 3, 4, 5], null, null).escalate, false);
  });
  it('escalates at once with N = 1', () => {
    assert.equal(failureWindow([7], null, { failures: 1, periodMs: 1 }).escalate, true);
  });
});

describe('assembly health', () => {
  const config = { heartbeat: { intervalMs: 1000, missed: 3 } } as AssemblyConfig;
  const seen = (lastHeartbeat: number | null, extra: object = {}) => ({
    lastHeartbeat,
    epoch: 'e',
    metrics: null,
    recovery: null,
    failures: [],
    lastEscalation: null,
    ...extra,
  });
  const bus = { connected: true, since: 0 };
  const at = (last: number | null, now: number, extra?: object, b = bus): string =>
    assemblyHealth(config, seen(last, extra), b, now).health;

  it('goes up → suspect → down at the documented boundaries', () => {
    assert.equal(SUSPECT_AFTER_INTERVALS, 1.5);
    assert.equal(at(10_000, 11_500), 'up');
    assert.equal(at(10_000, 11_501), 'suspect');
    assert.equal(at(10_000, 13_000), 'suspect');
    assert.equal(at(10_000, 13_001), 'down');
  });

  it('says when it will change next', () => {
    assert.equal(assemblyHealth(config, seen(10_000), bus, 10_200).changesAt, 11_501);
    assert.equal(assemblyHealth(config, seen(10_000), bus, 12_000).changesAt, 13_001);
  });

  it('does not count silence while the bus was down', () => {
    assert.equal(at(10_000, 60_000, {}, { connected: false, since: 20_000 }), 'unknown');
    assert.equal(at(10_000, 60_000, {}, { connected: true, since: 59_000 }), 'up');
    assert.equal(at(10_000, 60_000, {}, { connected: true, since: 56_000 }), 'down');
  });

  it('is unknown until the first beat, then down after the deadline', () => {
    assert.equal(at(null, 2000), 'unknown');
    assert.equal(at(null, 3001), 'down');
  });

  it('is recovering while recovery runs or until it beats after it', () => {
    assert.equal(
      at(10_000, 20_000, { recovery: { kind: 'recover', state: 'running', at: 15_000 } }),
      'recovering',
    );
    assert.equal(
      at(10_000, 20_000, { recovery: { kind: 'fence', state: 'done', at: 15_000 } }),
      'recovering',
    );
    assert.equal(
      at(16_000, 16_500, { recovery: { kind: 'recover', state: 'done', at: 15_000 } }),
      'up',
    );
    assert.equal(
      at(10_000, 20_000, { recovery: { kind: 'recover', state: 'failed', at: 15_000 } }),
      'down',
    );
  });

  it('with a threshold of one, is never merely suspect', () => {
    const one = { heartbeat: { intervalMs: 1000, missed: 1 } } as AssemblyConfig;
    assert.equal(assemblyHealth(one, seen(0), bus, 1000).health, 'up');
    assert.equal(assemblyHealth(one, seen(0), bus, 1001).health, 'down');
  });
});

describe('rule paths', () => {
  it('resolves plain member and index steps on own properties only', () => {
    const facts = { metrics: { load1: 3 }, list: ['a', 'b'] };
    assert.equal(resolvePath(facts, '$.metrics.load1'), 3);
    assert.equal(resolvePath(facts, '$.list[1]'), 'b');
    assert.equal(resolvePath(facts, '$.missing.deeper'), undefined);
    assert.equal(resolvePath(facts, '$.constructor'), undefined);
    assert.equal(resolvePath(facts, '$.metrics.__proto__'), undefined);
  });
  it('evaluates nothing', () => {
    assert.equal(parsePath('$..x'), null);
    assert.equal(parsePath('$[?(@.x)]'), null);
    assert.equal(resolvePath({ a: 1 }, "$['a']"), undefined);
  });
});
