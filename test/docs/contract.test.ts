/**
 * The documents are a contract for clients written from them alone: every
 * method, argument, event, status field and fault the code has must be in
 * them, by its exact name.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPeInput } from '../../cli/pe-input.js';
import { CpeApi, type CpeApiDeps } from '../../cpe/api.js';
import { countersOf, DPE_EVENTS, FAULT_KINDS, parseFault, simulate } from '../../dpe/index.js';
import { FAULT_ARGS, SERVICE_ARGS } from '../../lib/agent/protocol.js';
import type { QmfMap } from '../../lib/bus/qmf.js';
import { NAME_PATTERN } from '../../lib/config/index.js';
import { packageRoot } from '../../lib/paths.js';
import { flagOf } from '../../lib/settings.js';
import { AGENT_SETTINGS } from '../../agent/settings.js';
import { ROUTES } from '../../cpe/http-routes.js';
import { CPE_SETTINGS } from '../../cpe/settings.js';
import { EVENT_FILTERS } from '../../lib/events/filter.js';
import { UNUSED_QUEUE_POLICY } from '../support/bus.js';

const doc = (file: string): string => readFileSync(join(packageRoot(), file), 'utf8');

function missing(text: string, names: Iterable<string>): string[] {
  return [...names].filter((n) => !text.includes(`\`${n}\``) && !text.includes(`\`${n}(`));
}

describe('the documents hold the code', () => {
  it("schemas/cpe-api.md names every method of the CPE's API and every DPE event", () => {
    const api = new CpeApi({} as CpeApiDeps);
    const text = doc('schemas/cpe-api.md');
    assert.deepEqual(missing(text, Object.keys(api.methods())), []);
    assert.deepEqual(missing(text, DPE_EVENTS), []);
    assert.deepEqual(missing(text, ['RECOVERY_COMMAND_NOT_ALLOWED']), []);
  });

  it("schemas/cpe-api.md gives each method's arguments as the code declares them", () => {
    const text = doc('schemas/cpe-api.md');
    const signatures = Object.entries(new CpeApi({} as CpeApiDeps).methods())
      // events_query takes the filters, which have a table of their own (below).
      .filter(([method]) => method !== 'events_query')
      .map(([method, { args }]) => {
        const required = Object.entries(args).filter(([, spec]) => !spec.optional);
        const optional = Object.entries(args).filter(([, spec]) => spec.optional);
        return `${method}(${required.map(([k]) => k).join(', ')}${optional.map(([k]) => `[, ${k}]`).join('')})`;
      });
    assert.deepEqual(missing(text, signatures), []);
  });

  it('schemas/cpe-api.md gives the name rule the code checks, and no other', () => {
    const text = doc('schemas/cpe-api.md');
    assert.ok(text.includes(`\`${NAME_PATTERN.source.slice(1, -1)}\``), NAME_PATTERN.source);
    assert.doesNotMatch(text, /rc only/);
  });

  it('schemas/cpe-api.md describes every field of the status of assemblies and services', async () => {
    const { input, now } = await loadPeInput(join(packageRoot(), 'examples', 'wordpress-ha.xml'));
    const { engine } = await simulate({
      input,
      now,
      faults: [parseFault('silence:web1@5s')],
      onLine: () => undefined,
    });
    const status = engine.status();
    const first = (key: string): QmfMap => (status[key] as QmfMap[])[0]!;
    const text = doc('schemas/cpe-api.md');
    assert.deepEqual(missing(text, Object.keys(status)), []);
    assert.deepEqual(missing(text, Object.keys(countersOf(engine))), []);
    assert.deepEqual(missing(text, Object.keys(first('assemblies'))), []);
    assert.deepEqual(missing(text, Object.keys(first('services'))), []);
    const instance = (first('services').instances as QmfMap[])[0]!;
    assert.deepEqual(
      Object.keys(instance).filter((k) => !text.includes(k)),
      [],
    );
  });

  it('schemas/agent-api.md names every method and argument of the agent and its fault injector', () => {
    const text = doc('schemas/agent-api.md');
    assert.deepEqual(missing(text, ['inventory', 'start', 'stop', 'monitor', 'probe']), []);
    assert.deepEqual(missing(text, Object.keys(SERVICE_ARGS)), []);
    assert.deepEqual(missing(text, Object.keys(FAULT_ARGS)), []);
    assert.deepEqual(
      missing(
        text,
        Object.values(FAULT_ARGS).flatMap((args) => Object.keys(args)),
      ),
      [],
    );
  });

  it("the README lists every real agent's setting", () => {
    const own = Object.values(AGENT_SETTINGS)
      .filter(
        (spec) =>
          spec.key.startsWith('agent.') && !/simulate|deployableConfig|count/.test(spec.key),
      )
      .map(flagOf);
    assert.deepEqual(missing(doc('README.md'), own), []);
  });

  it("the README lists every setting of the CPE's event log, HTTP API, the original's hand-off and the cluster", () => {
    const own = Object.values(CPE_SETTINGS)
      .filter((spec) => /^(events|http|original|etcd|cluster)\.|^store$/.test(spec.key))
      .map(flagOf);
    assert.ok(own.length >= 15);
    assert.deepEqual(missing(doc('README.md'), own), []);
  });

  it("the README and messages.md give RabbitMQ's queue policy as the tests set it", () => {
    const [, , name, pattern, definition] = UNUSED_QUEUE_POLICY;
    const command = `rabbitmqctl set_policy --apply-to queues ${name} '${pattern}' '${definition}'`;
    assert.ok(doc('README.md').includes(command), command);
    assert.ok(doc('schemas/messages.md').includes(name!));
  });

  it('schemas/cpe-api.md gives every event filter as the code declares it', () => {
    const text = doc('schemas/cpe-api.md');
    const table = text.slice(
      text.indexOf('| filter '),
      text.indexOf('\n\n', text.indexOf('| filter ')),
    );
    const rows = table
      .split('\n')
      .slice(2)
      .map((l) =>
        l
          .split('|')
          .slice(1, -1)
          .map((c) => c.trim()),
      );
    assert.deepEqual(
      rows,
      Object.entries(EVENT_FILTERS).map(([k, f]) => [`\`${k}\``, f.type, f.description]),
    );
  });

  it('schemas/http-api.md names every route the CPE serves', () => {
    const text = doc('schemas/http-api.md');
    const urls = Object.values(ROUTES).map((r) => `GET ${r.url.replace(/:(\w+)/, '{$1}')}`);
    assert.deepEqual(missing(text, urls), []);
  });

  it('the README lists every fault kind of cpectl simulate --run', () => {
    assert.deepEqual(missing(doc('README.md'), Object.keys(FAULT_KINDS)), []);
  });
});
