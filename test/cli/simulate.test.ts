import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simulateCommand } from '../../cli/simulate.js';
import { runCommands, type CliResult } from '../support/cpectl.js';

const root = join(import.meta.dirname, '..', '..');
const caseInput = (name: string): string => join(root, 'test', 'pe', 'cases', name, 'input.json');

const simulate = (args: string[]): Promise<CliResult> =>
  runCommands([simulateCommand], ['simulate', ...args]);

describe('cpectl simulate', () => {
  it('prints the plan as a table with the rule and reason of each action', async () => {
    const r = await simulate([caseInput('unique-fence-then-move')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Deployable uniq at t=100000 \(1970-01-01T00:01:40\.000Z\)\n/);
    assert.match(r.stdout, /\n {2}d1 +down +missed 5\n/);
    assert.match(
      r.stdout,
      /1 {2}fence-assembly +d1 +\[move-service-off-lost-assembly\]\n +rsc_d1_db must never run twice: fence d1 before starting it on d2\n/,
    );
    assert.match(
      r.stdout,
      /3 {2}move +rsc_d1_db d1 → d2 +after #1 {2}\[move-service-off-lost-assembly\]/,
    );
  });

  it('prints JSON with --json, identical to the regression case', async () => {
    const r = await simulate(['--json', caseInput('order-restart-cascades')]);
    const { plan } = JSON.parse(r.stdout) as { plan: { actions: { id: string }[] } };
    assert.deepEqual(
      plan.actions.map((a) => a.id),
      [
        'restart:rsc_o1_db@o1:99000',
        'restart:rsc_o2_app@o2:after:rsc_o1_db',
        'restart:rsc_o3_web@o3:after:rsc_o2_app',
        'restart:rsc_o3_logship@o3:after:rsc_o3_web',
      ],
    );
  });

  it('explains placement with --explain', async () => {
    const r = await simulate([
      '--explain',
      'rsc_small1_web',
      caseInput('place-anti-affinity-to-spare'),
    ]);
    assert.match(r.stdout, /\nPlacement of rsc_small1_web: spare\n/);
    assert.match(
      r.stdout,
      /\n {2}small2 +no +0 +\(must not share an assembly with rsc_small2_web\)\n/,
    );
    assert.match(r.stdout, /\n {2}spare +yes +0\n/);
  });

  it('takes a bare XML config: every assembly beating, nothing running yet', async () => {
    const r = await simulate([join(root, 'examples', 'wordpress-original.xml')]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /1 {2}start +rsc_db_mysql on db/);
    assert.match(r.stdout, /2 {2}start +rsc_web_wp on web +after #1/);
  });

  it('takes the state of an XML config from --state, and the time from --now', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpectl-sim-'));
    const state = join(dir, 'state.json');
    writeFileSync(
      state,
      JSON.stringify({
        now: 0,
        assemblies: {
          web: { lastHeartbeat: 0, epoch: 'w' },
          db: { lastHeartbeat: 1000, epoch: 'd' },
        },
        services: {
          rsc_db_mysql: { instances: { db: { state: 'running', epoch: 'd' } } },
          rsc_web_wp: { instances: { web: { state: 'running', epoch: 'w' } } },
        },
      }),
    );
    const r = await simulate([
      '--state',
      state,
      '--now',
      // Version 1: down after more than 20 s of silence, as the original's DPE had it.
      '21000',
      join(root, 'examples', 'wordpress-original.xml'),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Deployable wordpress at t=21000 /);
    assert.match(r.stdout, /^ {2}db +suspect /m);
    assert.match(r.stdout, /recover-assembly web/);
    assert.match(r.stdout, /blocked +rsc_web_wp/);
  });

  it('says clearly what is wrong with a bad input, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpectl-sim-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({ config: join(root, 'test', 'pe', 'configs', 'basic.xml'), now: 'noon' }),
    );
    let r = await simulate([bad]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'cpectl simulate: input.now: expected a time in ms [PE_BAD_INPUT]\n');
    writeFileSync(bad, '{ not json');
    r = await simulate([bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^cpectl simulate: .*bad\.json: not JSON/);
    writeFileSync(bad, JSON.stringify({ now: 1, config: { name: 'x' } }));
    r = await simulate([bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /input\.config: not a compiled deployable model|CONFIG_/);
    r = await simulate([
      join(root, 'test', 'lib', 'config', 'cases', 'refuse-dependency-cycle.xml'),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[CONFIG_DEPENDENCY_CYCLE\]/);
    r = await simulate([join(dir, 'missing.json')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /missing\.json: no such file \[FILE_UNREADABLE\]\n$/);
    r = await simulate(['--now', 'soon', bad]);
    assert.equal(r.code, 2);
  });
});

describe('cpectl simulate --run', () => {
  it('plays the example forward with faults and prints the timeline until it settles', async () => {
    const r = await simulate([
      '--run',
      '--fault',
      'silence:web1@30s',
      join(root, 'examples', 'wordpress-ha.xml'),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\+ +30\.000s {2}fault silence web1$/m);
    assert.match(
      r.stdout,
      /^\+ +\d+\.\d{3}s {2}assembly web1 suspect → down: missed 3 heartbeats \(interval 2000 ms, down after 3\)$/m,
    );
    assert.match(
      r.stdout,
      /start {2}move rsc_web1_httpd web1 → web2 {2}\[move-service-off-lost-assembly\]/,
    );
    assert.match(r.stdout, /\nSettled at \+\d+\.\d{3}s: nothing left to do\.\n/);
    assert.match(r.stdout, /\n {2}web2 +up +rsc_web1_httpd rsc_web2_httpd\n/);
  });

  it('gives the timeline as JSON', async () => {
    const r = await simulate(['--run', '--json', join(root, 'examples', 'wordpress-ha.xml')]);
    const out = JSON.parse(r.stdout) as {
      ended: string;
      services: { id: string; assembly: string }[];
    };
    assert.equal(out.ended, 'settled');
    assert.deepEqual(
      out.services.map((s) => [s.id, s.assembly]),
      [
        ['rsc_web1_httpd', 'web1'],
        ['rsc_web2_httpd', 'web2'],
        ['rsc_db1_mysql', 'db1'],
      ],
    );
  });

  it('refuses a bad fault, or a fault without --run, as a usage error (exit 2)', async () => {
    const bad = await simulate([
      '--run',
      '--fault',
      'explode:web1',
      join(root, 'examples', 'wordpress-ha.xml'),
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /bad fault "explode:web1": expected KIND\[:TARGET\]/);
    const unknown = await simulate([
      '--run',
      '--fault',
      'silence:nosuch',
      join(root, 'examples', 'wordpress-ha.xml'),
    ]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /fault silence: no assembly "nosuch" in wordpress-ha/);
    const noRun = await simulate([
      '--fault',
      'silence:web1',
      join(root, 'examples', 'wordpress-ha.xml'),
    ]);
    assert.equal(noRun.code, 2);
    assert.match(noRun.stderr, /--fault and --until need --run/);
  });
});
