import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  loadDeployableConfig,
  serializeDeployable,
  type DeployableConfig,
} from '../../../lib/config/index.js';

const root = join(import.meta.dirname, '..', '..', '..');
const casesDir = join(import.meta.dirname, 'cases');

/** Every valid config we have: the examples and the corpus cases that expect no error. */
const validFiles = [
  ...readdirSync(join(root, 'examples'))
    .filter((f) => f.endsWith('.xml'))
    .map((f) => join(root, 'examples', f)),
  ...readdirSync(casesDir)
    .filter((f) => f.endsWith('.json'))
    .filter(
      (f) =>
        (JSON.parse(readFileSync(join(casesDir, f), 'utf8')) as { errors: unknown[] }).errors
          .length === 0,
    )
    .map((f) => join(casesDir, f.replace(/\.json$/, '.xml'))),
];

/** Line numbers say where a fact was written, so they differ after rewriting; the facts must not. */
function withoutLines(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutLines);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => k !== 'line')
        .map(([k, v]) => [k, withoutLines(v)]),
    );
  }
  return value;
}

describe('deployable config round trip', () => {
  it('covers the examples and the valid corpus cases', () => {
    assert.ok(validFiles.length >= 8, `only ${validFiles.length} valid files`);
  });

  for (const file of validFiles) {
    it(`${file.slice(root.length + 1)}: validate → model → XML → the same model`, async () => {
      const { config } = await loadDeployableConfig(readFileSync(file));
      const xml = serializeDeployable(config);
      const again: DeployableConfig = (await loadDeployableConfig(xml)).config;
      assert.deepEqual(withoutLines(again), withoutLines(config));
      assert.equal(serializeDeployable(again), xml, 'serialising is stable');
    });
  }

  it('keeps tabs and newlines in parameter values', async () => {
    const { config } = await loadDeployableConfig(`<deployable name="x" uuid="1">
      <assemblies><assembly name="a" uuid="a"><services>
        <service name="s" class="lsb" type="t">
          <parameters><parameter name="script"><value>line one
	line two &amp; &lt;three&gt;</value></parameter></parameters>
        </service>
      </services></assembly></assemblies></deployable>`);
    const again = (await loadDeployableConfig(serializeDeployable(config))).config;
    assert.deepEqual(again.services[0]?.parameters[0]?.source, {
      kind: 'value',
      value: 'line one\n\tline two & <three>',
    });
  });
});
