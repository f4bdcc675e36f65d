/**
 * Property test of how a pass reads the world (fast-check): for random
 * observations of a small deployable, every service's whereabouts, whether
 * it counts as settled, and what each assembly holds must follow the
 * filing rules that ServiceWhereabouts documents (running, failed, unknown,
 * lost; an older epoch is unknown; silence from an assembly makes it
 * unseen), worked out here the plain way.
 * readWorld takes a shortcut for settled services (no record until one is
 * asked for) and counts per assembly as it reads: this holds both to the
 * rules, whichever path a service takes.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { loadDeployableConfig, type DeployableConfig } from '../../lib/config/index.js';
import type {
  AssemblyObservation,
  InFlightAction,
  InstanceObservation,
  PeInput,
  ServiceObservation,
} from '../../pe/index.js';
import { foundAt, readWorld } from '../../pe/world.js';

const XML = `<deployable name="w" uuid="w-1" schema_version="2">
  <heartbeat interval="1s" missed="3"/>
  <recovery driver="command" command="/bin/true" timeout="30s"/>
  <assemblies>
    <assembly name="a1" uuid="u-a1"><services>
      <service name="x" class="systemd" type="x.service"><utilization cpu="1" memory="256M"/></service>
      <service name="y" class="systemd" type="y.service"><placement allowed="a1 a2"/></service>
    </services></assembly>
    <assembly name="a2" uuid="u-a2"><services>
      <service name="x" class="systemd" type="x.service"><utilization cpu="2" memory="1G"/></service>
    </services></assembly>
    <assembly name="a3" uuid="u-a3"><services>
      <service name="z" class="lsb" type="z"><placement allowed="a3 a4"/></service>
      <service name="w" class="systemd" type="w.service"/>
    </services></assembly>
    <assembly name="a4" uuid="u-a4"><services/></assembly>
  </assemblies>
</deployable>`;

const NOW = 100_000;
const ASSEMBLIES = ['a1', 'a2', 'a3', 'a4'];
/** Where instances may be reported: the config's assemblies and one it no longer has. */
const PLACES = [...ASSEMBLIES, 'gone'];
const EPOCHS = ['e1', 'e2', null] as const;
const STATES = ['running', 'stopped', 'failed', 'starting', 'stopping', 'unknown'] as const;

const assemblyObservation: fc.Arbitrary<AssemblyObservation | undefined> = fc.option(
  fc.record({
    // Recent (up), 2 s ago (suspect), long ago (down), never (unknown).
    lastHeartbeat: fc.constantFrom(NOW - 200, NOW - 2000, NOW - 60_000, null),
    epoch: fc.constantFrom(...EPOCHS),
    metrics: fc.constant(null),
    recovery: fc.constantFrom(null, {
      kind: 'recover' as const,
      state: 'running' as const,
      at: NOW - 100,
    }),
    failures: fc.constant([]),
    lastEscalation: fc.constant(null),
  }),
  { nil: undefined },
);

const instance: fc.Arbitrary<InstanceObservation> = fc.record({
  state: fc.constantFrom(...STATES),
  epoch: fc.constantFrom(...EPOCHS),
  since: fc.constantFrom(1000, 2000),
});

const serviceObservation: fc.Arbitrary<ServiceObservation | undefined> = fc.option(
  fc.record({
    // Instances in any order: the result must not depend on it.
    instances: fc
      .uniqueArray(fc.tuple(fc.constantFrom(...PLACES), instance), {
        selector: ([place]) => place,
        maxLength: 3,
      })
      .map((entries) => Object.fromEntries(entries)),
    failures: fc.constant([]),
    lastEscalation: fc.constant(null),
  }),
  { nil: undefined },
);

function inFlight(ids: readonly string[]): fc.Arbitrary<InFlightAction[]> {
  return fc
    .uniqueArray(
      fc.record({
        service: fc.constantFrom(...ids),
        type: fc.constantFrom('move' as const, 'restart' as const, 'stop' as const),
        to: fc.constantFrom(...ASSEMBLIES),
        assembly: fc.constantFrom(...ASSEMBLIES),
      }),
      { selector: (a) => a.service, maxLength: 2 },
    )
    .map((list) =>
      list.map((a, i) => ({
        id: `${a.type}:${a.service}:${i}`,
        type: a.type,
        service: a.service,
        ...(a.type === 'move' ? { to: a.to } : { assembly: a.assembly }),
        startedAt: NOW - 10,
      })),
    );
}

/** The observed part of an input (the config is left out, so that a counterexample reads short). */
type Observed = Pick<PeInput, 'assemblies' | 'services' | 'inFlight'>;

function observed(ids: readonly string[]): fc.Arbitrary<Observed> {
  return fc
    .record({
      assemblies: fc.tuple(...ASSEMBLIES.map(() => assemblyObservation)),
      services: fc.tuple(...ids.map(() => serviceObservation)),
      inFlight: inFlight(ids),
    })
    .map(({ assemblies, services, inFlight: actions }) => ({
      assemblies: Object.fromEntries(
        ASSEMBLIES.flatMap((name, i) => (assemblies[i] ? [[name, assemblies[i]]] : [])),
      ),
      services: Object.fromEntries(
        ids.flatMap((id, i) => (services[i] ? [[id, services[i]]] : [])),
      ),
      inFlight: actions,
    }));
}

describe('reading the world (property)', () => {
  let config: DeployableConfig;
  before(async () => {
    config = (await loadDeployableConfig(XML)).config;
  });

  it('files every instance by the rules, settled services and the rest alike', () => {
    fc.assert(
      fc.property(observed(config.services.map((s) => s.id)), (seen) => {
        const input: PeInput = {
          config,
          bus: { connected: true, since: 0 },
          ...seen,
          lastDeployableEscalation: null,
        };
        const world = readWorld(input, NOW);
        const health = (a: string): string | undefined => world.health.get(a)?.health;
        const unheard = ASSEMBLIES.filter((a) => health(a) === 'unknown');
        const running = new Map<string, string[]>(ASSEMBLIES.map((a) => [a, []]));
        const found = new Map<string, { count: number; cpu: number; mem: number }>();
        let failedServices = 0;
        assert.equal(world.serviceCount, config.services.length);
        config.services.forEach((s, i) => {
          const obs = input.services[s.id];
          const expected = {
            running: [] as string[],
            failed: [] as string[],
            unknown: [] as string[],
            lost: [] as string[],
          };
          for (const place of Object.keys(obs?.instances ?? {}).sort()) {
            const h = health(place);
            if (h === undefined) continue; // not in the config
            const seen = obs!.instances[place]!;
            const current = seen.epoch === (input.assemblies[place]?.epoch ?? null);
            if (h === 'up' || h === 'suspect') {
              if (!current) {
                if (seen.state !== 'stopped') expected.unknown.push(place);
              } else if (['running', 'starting', 'stopping'].includes(seen.state)) {
                expected.running.push(place);
              } else if (seen.state === 'failed') expected.failed.push(place);
              else if (seen.state === 'unknown') expected.unknown.push(place);
            } else if (h === 'down' || h === 'recovering') {
              if (!(current && seen.state === 'stopped')) expected.lost.push(place);
            }
          }
          const busy = input.inFlight.filter((a) => a.service === s.id);
          const unseen =
            unheard.length > 0 &&
            (s.allowed === 'any' ||
              s.allowed.some((a) => unheard.includes(a)) ||
              Object.keys(obs?.instances ?? {}).some((a) => unheard.includes(a)));
          const w = world.service(i);
          assert.deepEqual(
            {
              running: [...w.running],
              failed: [...w.failed],
              unknown: [...w.unknown],
              lost: [...w.lost],
              unseen: w.unseen,
              busy: [...w.busy],
              config: w.config,
              obs: w.obs,
            },
            { ...expected, unseen, busy, config: s, obs },
            s.id,
          );
          assert.equal(world.byId.get(s.id), w);
          const settled =
            busy.length === 0 &&
            unheard.length === 0 &&
            Object.keys(obs?.instances ?? {}).length === 1 &&
            expected.running.length === 1;
          assert.equal(world.settledOn(i), settled ? expected.running[0] : undefined, s.id);
          for (const a of expected.running) running.get(a)!.push(s.id);
          if (expected.failed.length > 0) failedServices += 1;
          const at = foundAt(w);
          if (at !== undefined && ASSEMBLIES.includes(at)) {
            const f = found.get(at) ?? { count: 0, cpu: 0, mem: 0 };
            f.count += 1;
            f.cpu += s.utilization.cpu ?? 0;
            f.mem += s.utilization.memoryMb ?? 0;
            found.set(at, f);
          }
        });
        assert.equal(world.failedServices, failedServices);
        for (const a of ASSEMBLIES) {
          const tally = world.tallies.get(a)!;
          assert.deepEqual(tally.running, running.get(a), `running on ${a}`);
          const f = found.get(a) ?? { count: 0, cpu: 0, mem: 0 };
          assert.deepEqual(
            { count: tally.found, cpu: tally.cpu, mem: tally.mem },
            f,
            `found on ${a}`,
          );
        }
      }),
      { numRuns: 500 },
    );
  });
});
