import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as agentProtocol from '../../lib/agent/protocol.js';
import * as busErrors from '../../lib/bus/errors.js';
import * as configIssues from '../../lib/config/issues.js';
import * as errors from '../../lib/errors.js';
import * as settings from '../../lib/settings.js';
import * as systemd from '../../lib/systemd/manager.js';
import * as peInput from '../../pe/input.js';

type ErrorClass = new (...args: unknown[]) => Error;

/** Arguments that make one of each, where the code and message will not do. */
const ARGS: Readonly<Record<string, readonly unknown[]>> = {
  ConfigError: [[]],
  SettingsError: ['a message'],
  AgentAnswerError: ['has no rc'],
  InvalidArgumentError: ['a message'],
  PeInputError: ['services.x', 'a problem'],
};

const ROOT = join(import.meta.dirname, '..', '..');
/** The folders bundled into the daemons. */
const SOURCES = ['agent', 'cpe', 'dpe', 'lib', 'pe'];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
}

describe('lib/errors', () => {
  // The daemons' bundles are minified, class names too: what a stack trace
  // or a log line calls an error comes from the name each class declares.
  it('every error class of the daemons names itself, as its source calls it', () => {
    const classes = [agentProtocol, busErrors, configIssues, errors, settings, systemd, peInput]
      .flatMap((m): unknown[] => Object.values(m))
      .filter(
        (v): v is ErrorClass =>
          typeof v === 'function' &&
          (v as { prototype: unknown }).prototype instanceof errors.CpeError,
      );
    assert.ok(classes.length >= 8, `found ${classes.length}`);
    for (const c of [errors.CpeError as unknown as ErrorClass, ...classes]) {
      const made = new c(...(ARGS[c.name] ?? ['SOME_CODE', 'a message', 'method']));
      assert.equal(made.name, c.name);
      assert.match(String(made.stack), new RegExp(`^${c.name}: `));
    }
  });

  it("so does every error class in the daemons' sources, those not loaded above too", () => {
    const declared = new Map<string, { parent: string; body: string; file: string }>();
    for (const file of SOURCES.flatMap(sourceFiles)) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/class (\w+) extends (\w+) \{([^]*?)\n\}/g))
        declared.set(m[1]!, { parent: m[2]!, body: m[3]!, file });
    }
    const errorClasses = new Set(['CpeError']);
    for (let grew = true; grew;) {
      grew = false;
      for (const [name, c] of declared)
        if (errorClasses.has(c.parent) && !errorClasses.has(name))
          grew = errorClasses.add(name).has(name);
    }
    assert.ok(errorClasses.size >= 9, [...errorClasses].join(', '));
    for (const name of errorClasses) {
      const c = declared.get(name)!;
      assert.match(c.body, new RegExp(`override name = '${name}';`), `${c.file}: ${name}`);
    }
  });
});
