/**
 * What a pass reads of the observations (`toPeInput`): each service's entry
 * is kept from one pass to the next until something changes the service, so
 * a property test runs random changes and checks every pass's input against
 * what the records say at that moment.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Observations, type ServiceRecord } from '../../dpe/observations.js';
import { loadDeployableConfig, type DeployableConfig } from '../../lib/config/index.js';
import type { InstanceState, PeInput } from '../../pe/index.js';

const ASSEMBLIES = ['a0', 'a1', 'a2'];

function configXml(assemblies: readonly string[]): string {
  const body = assemblies
    .map(
      (a) =>
        `<assembly name="${a}" uuid="u-${a}"><services>` +
        '<service name="s0" class="systemd" type="s0.service"/>' +
        '<service name="s1" class="systemd" type="s1.service"/>' +
        '</services></assembly>',
    )
    .join('');
  return `<deployable name="obs" uuid="obs-1" schema_version="2"><heartbeat interval="1s" missed="3"/><recovery driver="command" command="/bin/true"/><assemblies>${body}</assemblies></deployable>`;
}

async function config(assemblies: readonly string[]): Promise<DeployableConfig> {
  return (await loadDeployableConfig(configXml(assemblies))).config;
}

/** What the records say, as a pass must read them: written out here, not by the cache. */
function expectedServices(store: Observations): PeInput['services'] {
  const out: Record<string, PeInput['services'][string]> = {};
  for (const [id, s] of store.services) {
    if (!observed(s)) continue;
    out[id] = {
      instances: Object.fromEntries([...s.instances].sort(([x], [y]) => (x < y ? -1 : 1))),
      failures: [...s.failures],
      lastEscalation: s.lastEscalation,
    };
  }
  return out;
}

function observed(s: ServiceRecord): boolean {
  return s.instances.size > 0 || s.failures.length > 0 || s.lastEscalation !== null;
}

const STATES: InstanceState[] = ['running', 'stopped', 'failed', 'unknown', 'starting'];

type Change =
  | { kind: 'instance'; service: number; assembly: number; state: number; failure: boolean }
  | { kind: 'escalate'; service: number; assembly: number }
  | { kind: 'session'; assembly: number; running: number[] }
  | { kind: 'drop-assembly'; assembly: number }
  | { kind: 'pass' };

const change: fc.Arbitrary<Change> = fc.oneof(
  fc.record({
    kind: fc.constant('instance' as const),
    service: fc.nat(5),
    assembly: fc.nat(2),
    state: fc.nat(STATES.length - 1),
    failure: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('escalate' as const), service: fc.nat(5), assembly: fc.nat(2) }),
  fc.record({
    kind: fc.constant('session' as const),
    assembly: fc.nat(2),
    running: fc.array(fc.nat(5), { maxLength: 3 }),
  }),
  fc.record({ kind: fc.constant('drop-assembly' as const), assembly: fc.nat(2) }),
  fc.constant({ kind: 'pass' as const }),
);

describe('dpe observations: a pass reads them whole', () => {
  it('reads every change since the last pass, and shares what did not change', async () => {
    const full = await config(ASSEMBLIES);
    const ids = full.services.map((s) => s.id);
    await fc.assert(
      fc.asyncProperty(fc.array(change, { maxLength: 40 }), async (changes) => {
        let current = full;
        const store = new Observations(current);
        for (const a of ASSEMBLIES)
          store.beat(a, { epoch: `e-${a}`, sequence: 1, metrics: null, facts: {} }, 0);
        let last = store.toPeInput(current, []).services;
        let touched = new Set<string>();
        let now = 1;
        for (const c of changes) {
          now += 1;
          if (c.kind === 'instance') {
            const id = ids[c.service]!;
            store.instance(id, ASSEMBLIES[c.assembly]!, STATES[c.state]!, now, 'test', {
              failure: c.failure,
            });
            touched.add(id);
          } else if (c.kind === 'escalate') {
            const id = ids[c.service]!;
            store.escalated('assembly', now, id, ASSEMBLIES[c.assembly]);
            touched.add(id);
          } else if (c.kind === 'session') {
            const a = ASSEMBLIES[c.assembly]!;
            const states = new Map(c.running.map((i) => [ids[i]!, 'running' as const]));
            store.commitSession(a, `e-${a}-${now}`, states, now);
            for (const id of ids) touched.add(id);
          } else if (c.kind === 'drop-assembly') {
            // Reconfigured without it: its instances go, everywhere.
            current = await config(ASSEMBLIES.filter((_, i) => i !== c.assembly));
            store.reconfigure(current);
            for (const id of ids) touched.add(id);
          } else {
            const services = store.toPeInput(current, []).services;
            assert.deepEqual(services, expectedServices(store));
            if (touched.size === 0) assert.equal(services, last, 'nothing changed: shared whole');
            for (const [id, entry] of Object.entries(services)) {
              if (!touched.has(id) && last[id] !== undefined)
                assert.equal(entry, last[id], `${id} did not change: its entry is shared`);
            }
            last = services;
            touched = new Set();
          }
        }
        assert.deepEqual(store.toPeInput(current, []).services, expectedServices(store));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps no entry for a service nothing was observed of', async () => {
    const c = await config(['a0']);
    const store = new Observations(c);
    assert.deepEqual(store.toPeInput(c, []).services, {});
    store.instance(c.services[0]!.id, 'a0', 'running', 5, 'test', { epoch: 'e' });
    assert.deepEqual(Object.keys(store.toPeInput(c, []).services), [c.services[0]!.id]);
  });
});
