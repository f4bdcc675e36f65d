import assert from 'node:assert/strict';
import { lazyExports } from '../../lib/lazy.js';

describe('lazyExports (lib/lazy.ts)', () => {
  const module = () => {
    let runs = 0;
    const exports = lazyExports(() => {
      runs += 1;
      return { enabled: false, paint: (s: string) => `*${s}*` };
    }) as { enabled: boolean; paint: (s: string) => string; missing?: unknown };
    return { exports, runs: () => runs };
  };

  it('runs the module when something of it is first read, and only once', () => {
    const m = module();
    assert.equal(m.runs(), 0);
    assert.equal(m.exports.paint('x'), '*x*');
    assert.equal(m.exports.missing, undefined);
    assert.equal(m.runs(), 1);
  });

  it('keeps what is set before the module runs, and sets it on the module when it does', () => {
    const m = module();
    m.exports.enabled = true; // as logform sets colors.enabled while it loads
    assert.equal(m.runs(), 0);
    assert.equal(m.exports.enabled, true);
    m.exports.enabled = false;
    assert.equal(m.exports.enabled, false);
    assert.equal(m.runs(), 1);
  });

  it('answers `in` from the module', () => {
    const m = module();
    assert.ok('paint' in m.exports);
    assert.ok(!('missing' in m.exports));
    assert.equal(m.runs(), 1);
  });

  it('lists the keys of the module, as an ES module that imports it copies them', () => {
    const m = module();
    assert.deepEqual(Object.keys(m.exports), ['enabled', 'paint']);
    const copy = { ...m.exports };
    assert.equal(copy.paint('y'), '*y*');
    assert.equal(m.runs(), 1);
  });
});
