import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MODULE = join(import.meta.dirname, '..', '..', 'lib', 'code-cache.ts');

/**
 * In a process of its own under `flags`, as the DPE and the build run it: the
 * flags are what V8 checks a cache against. Coverage stays off there (Node
 * would pass NODE_V8_COVERAGE on), as the DPE runs without it.
 */
function node(flags: readonly string[], code: string): string {
  const r = spawnSync(
    process.execPath,
    [...flags, '--import', 'tsx', '--input-type=module', '-e', code],
    { encoding: 'utf8', env: { ...process.env, NODE_V8_COVERAGE: '' } },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

describe('the code cache (lib/code-cache.ts)', function () {
  this.timeout(60_000);
  let dir: string;
  let program: string;
  let cache: string;
  const run = (flags: readonly string[] = []): string =>
    node(
      flags,
      `import { runWithCodeCache } from ${JSON.stringify(MODULE)};
       process.stdout.write(runWithCodeCache(${JSON.stringify(program)}, ${JSON.stringify(cache)}) + ' ');`,
    );
  const write = (flags: readonly string[] = []): string =>
    node(
      flags,
      `import { writeCodeCache } from ${JSON.stringify(MODULE)};
       writeCodeCache(${JSON.stringify(program)}, ${JSON.stringify(cache)});`,
    );

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cpe-code-cache-'));
    program = join(dir, 'program.cjs');
    cache = `${program}.cache`;
    // A #! line, require(), __filename, module.exports and a function called late: what a bundle uses.
    writeFileSync(
      program,
      [
        '#!/usr/bin/env node',
        "const { basename } = require('node:path');",
        'module.exports.late = () => basename(__filename);',
        "setImmediate(() => process.stdout.write('ran ' + module.exports.late() + ' ' + (this === module.exports)));",
      ].join('\n'),
    );
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a CommonJS file as require() would, from source when there is no cache', () => {
    assert.equal(run(), 'absent ran program.cjs true');
  });

  it('runs it from the cache it wrote, when the flags are the same', () => {
    write(['--max-semi-space-size=1']);
    assert.ok(readFileSync(cache).length > 0);
    assert.equal(run(['--max-semi-space-size=1']), 'used ran program.cjs true');
  });

  it('trains a cache by a run: what the program compiled, written as it exits, which V8 then takes', () => {
    // A function never called, long enough to weigh in a cache of every function.
    const never = Array.from({ length: 200 }, (_, i) => `x += ${i} * x;`).join(' ');
    writeFileSync(
      program,
      `${readFileSync(program, 'utf8')}\nmodule.exports.never = (x) => { ${never} return x; };\n`,
    );
    const trained = join(dir, 'trained.cache');
    const flags = ['--max-semi-space-size=1'];
    assert.equal(
      node(
        flags,
        `import { runTrainingCodeCache } from ${JSON.stringify(MODULE)};
         runTrainingCodeCache(${JSON.stringify(program)}, ${JSON.stringify(trained)});`,
      ),
      'ran program.cjs true',
    );
    write(flags);
    assert.ok(readFileSync(trained).length < readFileSync(cache).length / 2);
    writeFileSync(cache, readFileSync(trained));
    assert.equal(run(flags), 'used ran program.cjs true');
  });

  it('compiles from source when V8 rejects the cache (other flags, or not a cache at all)', () => {
    write(['--max-semi-space-size=1']);
    assert.equal(run(), 'rejected ran program.cjs true');
    writeFileSync(cache, 'not a code cache');
    assert.equal(run(['--max-semi-space-size=1']), 'rejected ran program.cjs true');
  });
});
