/**
 * Property test of a plan's order (pe/actions.ts, `ActionSet.ordered`): for
 * random actions with random priorities and dependencies (some on actions
 * not in the plan, which count as done), the order is the one the plain
 * rule gives, worked out here the slow way: each time, of the actions whose
 * dependencies are all out already, the one of highest priority, then the
 * first id.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ActionSet } from '../../pe/actions.js';

interface Spec {
  readonly id: string;
  readonly priority: number;
  readonly after: readonly string[];
}

/** The plain rule, one pick at a time. */
function reference(specs: readonly Spec[]): string[] {
  const planned = new Set(specs.map((s) => s.id));
  const out: string[] = [];
  const done = new Set<string>();
  const left = [...specs];
  while (left.length > 0) {
    const ready = left.filter((s) => s.after.every((d) => !planned.has(d) || done.has(d)));
    if (ready.length === 0) return out; // a cycle: the rest never comes out
    ready.sort((a, b) => b.priority - a.priority || (a.id < b.id ? -1 : 1));
    const next = ready[0]!;
    out.push(next.id);
    done.add(next.id);
    left.splice(left.indexOf(next), 1);
  }
  return out;
}

/** An action's id: not in the order they are made, so that ranks and positions differ. */
const idOf = (i: number): string => `a${String((i * 7919) % 97).padStart(2, '0')}-${i}`;

/** Acyclic: an action waits only for actions made before it, or for ids not planned. */
const plans = fc
  .array(fc.record({ priority: fc.integer({ min: 0, max: 3 }), deps: fc.array(fc.nat(40)) }), {
    maxLength: 30,
  })
  .map((rows) =>
    rows.map((row, i): Spec => ({
      id: idOf(i),
      priority: row.priority * 10,
      after: [...new Set(row.deps.map((d) => (d < i ? idOf(d) : `gone-${d}`)))],
    })),
  );

describe('the order of a plan (ActionSet.ordered)', () => {
  it('puts out, each time, the ready action of highest priority, then first id', () => {
    fc.assert(
      fc.property(plans, (specs) => {
        const set = new ActionSet([]);
        // Added in reverse, so that the order owes nothing to the order of adding.
        for (const s of [...specs].reverse()) {
          set.add({
            id: s.id,
            type: 'notify',
            priority: s.priority,
            after: s.after,
            rule: 'test',
            reason: 'test',
            facts: {},
          });
        }
        const got = set.ordered().map((a) => a.id);
        assert.deepEqual(got, reference(specs));
      }),
      { numRuns: 500 },
    );
  });
});
