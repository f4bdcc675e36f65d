import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  parseDeployableConfig,
  type ConfigIssue,
  type DeployableConfig,
} from '../../../lib/config/index.js';

/**
 * The config corpus: each NAME.xml has a NAME.json with the exact errors and
 * warnings (code, line, element) it must produce, in order. Valid cases of
 * the original format also list the facts the model must carry.
 */
const dir = join(import.meta.dirname, 'cases');

interface Expected {
  readonly description: string;
  readonly maxBytes?: number;
  readonly errors: readonly Located[];
  readonly warnings: readonly Located[];
  readonly messageIncludes?: string;
  readonly facts?: unknown;
  readonly parameter?: { service: string; name: string; value: string };
}
interface Located {
  readonly code: string;
  readonly line: number | null;
  readonly element: string | null;
}

const located = (i: ConfigIssue): Located => ({ code: i.code, line: i.line, element: i.element });

/** The facts the original format states, in the shape the .json files write them. */
function facts(config: DeployableConfig): unknown {
  return {
    name: config.name,
    uuid: config.uuid,
    monitor: config.monitor,
    monitorTemplate: config.monitorTemplate,
    username: config.username,
    assemblies: config.assemblies.map((a) => ({
      name: a.name,
      uuid: a.uuid,
      escalation: a.escalation,
      heartbeat: a.heartbeat,
    })),
    services: config.services.map((s) => ({
      id: s.id,
      class: s.class,
      type: s.type,
      provider: s.provider,
      monitorIntervalMs: s.monitorIntervalMs,
      escalation: s.escalation,
      parameters: Object.fromEntries(
        s.parameters.map((p) => [
          p.name,
          p.source.kind === 'value'
            ? p.source.value
            : { assembly: p.source.assembly, parameter: p.source.parameter },
        ]),
      ),
      configureExecutable: s.configureExecutable,
    })),
    order: config.constraints.order.map((o) => [o.first, o.then]),
  };
}

const names = readdirSync(dir)
  .filter((f) => f.endsWith('.xml'))
  .map((f) => f.slice(0, -4))
  .sort();

describe('deployable config corpus', () => {
  it('has at least 30 cases, each with its expectation', () => {
    assert.ok(names.length >= 30, `only ${names.length} cases`);
    for (const name of names) readFileSync(join(dir, `${name}.json`));
  });

  for (const name of names) {
    const expected = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as Expected;
    it(`${name}: ${expected.description}`, async () => {
      const bytes = readFileSync(join(dir, `${name}.xml`));
      const result = await parseDeployableConfig(bytes, {
        file: `${name}.xml`,
        ...(expected.maxBytes === undefined ? {} : { maxBytes: expected.maxBytes }),
      });
      const issues = result.ok ? result.warnings : result.issues;
      const errors = issues.filter((i) => i.severity === 'error');
      const warnings = issues.filter((i) => i.severity === 'warning');
      const shown = issues
        .map((i) => `${i.line}: ${i.code} <${i.element}> ${i.message}`)
        .join('\n');
      assert.deepEqual(errors.map(located), expected.errors, shown);
      assert.deepEqual(warnings.map(located), expected.warnings, shown);
      assert.equal(result.ok, expected.errors.length === 0);
      for (const issue of issues) {
        assert.equal(issue.file, `${name}.xml`);
        assert.ok(issue.message.length > 0);
        assert.ok(
          !/\bat .*\.(ts|js):\d+/.test(issue.message),
          `stack trace in message: ${issue.message}`,
        );
      }
      if (expected.messageIncludes !== undefined) {
        assert.ok(shown.includes(expected.messageIncludes), shown);
      }
      if (expected.facts !== undefined) {
        assert.ok(result.ok);
        assert.deepEqual(facts(result.config), expected.facts);
      }
      if (expected.parameter !== undefined) {
        assert.ok(result.ok);
        const { service, name: param, value } = expected.parameter;
        const s = result.config.services.find((x) => x.id === service);
        const p = s?.parameters.find((x) => x.name === param);
        assert.deepEqual(p?.source, { kind: 'value', value });
      }
    });
  }
});

describe('trusted parsing (configs the CPE validated and stored, as its DPEs read them)', () => {
  const valid = names.filter(
    (n) =>
      (JSON.parse(readFileSync(join(dir, `${n}.json`), 'utf8')) as Expected).errors.length === 0,
  );

  it('gives the same model as full parsing for every valid case', async () => {
    assert.ok(valid.length > 5);
    for (const name of valid) {
      const bytes = readFileSync(join(dir, `${name}.xml`));
      const full = await parseDeployableConfig(bytes);
      const trusted = await parseDeployableConfig(bytes, { trusted: true });
      assert.ok(full.ok && trusted.ok, name);
      assert.deepEqual(trusted.config, full.config, name);
    }
  });

  it('still refuses bad bytes, declarations and semantic errors, and never throws', async () => {
    for (const name of [
      'refuse-invalid-utf8',
      'refuse-billion-laughs',
      'refuse-dependency-cycle',
      'refuse-deep-nesting',
    ]) {
      const result = await parseDeployableConfig(readFileSync(join(dir, `${name}.xml`)), {
        trusted: true,
      });
      assert.equal(result.ok, false, name);
    }
  });
});
