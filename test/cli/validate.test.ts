import assert from 'node:assert/strict';
import { join } from 'node:path';
import { showCommand } from '../../cli/show.js';
import { validateCommand } from '../../cli/validate.js';
import { runCommands, type CliResult } from '../support/cpectl.js';

const root = join(import.meta.dirname, '..', '..');
const example = (name: string): string => join(root, 'examples', name);
const corpus = (name: string): string =>
  join(root, 'test', 'lib', 'config', 'cases', `${name}.xml`);

const cpectl = (args: string[], stdin = ''): Promise<CliResult> =>
  runCommands([validateCommand, showCommand], args, stdin);

describe('cpectl validate', () => {
  it('prints ok for each valid file and exits 0', async () => {
    const r = await cpectl([
      'validate',
      example('wordpress-original.xml'),
      example('wordpress-ha.xml'),
    ]);
    assert.equal(r.code, 0);
    assert.equal(
      r.stdout,
      `${example('wordpress-original.xml')}: ok\n${example('wordpress-ha.xml')}: ok\n`,
    );
  });

  it('prints every error as FILE:LINE: <element>: message [CODE] and exits 1', async () => {
    const file = corpus('refuse-many-errors');
    const r = await cpectl(['validate', file, example('wordpress-ha.xml')]);
    assert.equal(r.code, 1);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 5);
    assert.equal(
      lines[0],
      `${file}:3: <assembly>: unknown attribute "shade" [CONFIG_UNKNOWN_ATTRIBUTE]`,
    );
    assert.match(
      lines[3]!,
      /:6: <service>: bad value "fast" for attribute "monitor_interval".*\[CONFIG_BAD_INTERVAL\]$/,
    );
    assert.equal(lines[4], `${example('wordpress-ha.xml')}: ok`);
  });

  it('prints warnings without failing', async () => {
    const r = await cpectl(['validate', corpus('v2-escalation-warning')]);
    assert.equal(r.code, 0);
    assert.match(
      r.stdout,
      /:5: warning: <service>: escalation_failures is set .* \[CONFIG_ESCALATION_INCOMPLETE\]\n.*: ok\n$/,
    );
  });

  it('warns, still exit 0, where version 1 reads escalation text as the original did', async () => {
    const r = await cpectl(['validate', corpus('original-escalation-text')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /:9: warning: <assembly>: escalation_period "1m" is read as 1s, as the original read it .*with schema_version="2" it means 1m \[CONFIG_READ_AS_ORIGINAL\]\n/,
    );
    assert.equal(r.stdout.match(/CONFIG_READ_AS_ORIGINAL/g)?.length, 10);
    assert.match(r.stdout, /original-escalation-text\.xml: ok\n$/);
  });

  it('reports in JSON with --json', async () => {
    const r = await cpectl([
      'validate',
      '--json',
      corpus('refuse-unknown-class'),
      example('wordpress-ha.xml'),
    ]);
    assert.equal(r.code, 1);
    const report = JSON.parse(r.stdout) as {
      file: string;
      ok: boolean;
      errors: { code: string; line: number }[];
    }[];
    assert.equal(report.length, 2);
    assert.equal(report[0]?.ok, false);
    assert.deepEqual(
      report[0]?.errors.map((e) => [e.code, e.line]),
      [['CONFIG_UNKNOWN_CLASS', 5]],
    );
    assert.equal(report[1]?.ok, true);
  });

  it('reads standard input for "-" and honours --max-size', async () => {
    const xml =
      '<deployable name="x" uuid="1"><assemblies><assembly name="a" uuid="a"/></assemblies></deployable>';
    assert.deepEqual(await cpectl(['validate', '-'], xml), {
      code: 0,
      stdout: '<stdin>: ok\n',
      stderr: '',
    });
    const small = await cpectl(['validate', '--max-size', '50', '-'], xml);
    assert.equal(small.code, 1);
    assert.match(
      small.stdout,
      /^<stdin>: config exceeds the size limit of 50 bytes \[CONFIG_TOO_LARGE\]\n$/,
    );
  });

  it('says a missing file is unreadable', async () => {
    const r = await cpectl(['validate', '/nonexistent/deployable.xml']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '/nonexistent/deployable.xml: no such file [CONFIG_UNREADABLE]\n');
  });

  it('exits 2 on usage errors, with a two-line hint', async () => {
    for (const args of [
      ['validate'],
      ['validate', '--bogus', 'x'],
      ['validate', '--max-size', 'lots', 'x'],
      ['frobnicate'],
    ]) {
      const r = await cpectl(args);
      assert.equal(r.code, 2, args.join(' '));
      // Two lines: what is wrong, and where to read more.
      assert.match(
        r.stderr,
        /^cpectl[^\n]*\n\(cpectl (validate )?--help (shows its usage|lists the commands)\)\n$/,
      );
    }
  });

  it('explains itself', async () => {
    assert.match((await cpectl(['--help'])).stdout, /validate +check deployable configs/);
    assert.match((await cpectl(['help', 'validate'])).stdout, /^usage: cpectl validate \[--json\]/);
    assert.match((await cpectl(['show', '--help'])).stdout, /^usage: cpectl show/);
  });
});

describe('cpectl show', () => {
  it('prints an outline of the compiled model', async () => {
    const r = await cpectl(['show', example('wordpress-original.xml')]);
    assert.equal(r.code, 0);
    assert.match(
      r.stdout,
      /^deployable wordpress  uuid 123456  schema 1  monitor active  user me\n/,
    );
    assert.match(r.stdout, /mysql_ip = ipaddress of assembly db\n/);
    assert.match(r.stdout, /order 1: rsc_db_mysql before rsc_web_wp \(mandatory\)\n/);
  });

  it('prints the model as JSON or XML', async () => {
    const json = await cpectl(['show', '--json', example('wordpress-ha.xml')]);
    assert.equal((JSON.parse(json.stdout) as { name: string }).name, 'wordpress-ha');
    const xml = await cpectl(['show', '--xml', example('wordpress-ha.xml')]);
    assert.match(
      xml.stdout,
      /^<\?xml version="1.0" encoding="UTF-8"\?>\n<deployable name="wordpress-ha"/,
    );
    assert.equal((await cpectl(['validate', '-'], xml.stdout)).code, 0);
  });

  it('prints the errors of an invalid config to stderr and exits 1', async () => {
    const r = await cpectl(['show', corpus('refuse-dependency-cycle')]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      /:14: <service_dependency>: ordering cycle: rsc_a_s1 → rsc_a_s2 → rsc_a_s3 → rsc_a_s1/,
    );
  });
});
