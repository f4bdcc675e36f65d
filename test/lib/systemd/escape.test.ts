import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  instanceOf,
  systemdEscape,
  systemdUnescape,
  templateInstance,
} from '../../../lib/systemd/escape.js';

const SAMPLES = [
  'wordpress',
  'word-press',
  '.hidden',
  'a.b_c:d',
  'a/b',
  'sp ace',
  'quote\'"$(x)',
  'ünïcode',
  '-leading',
  'x\\y',
];

describe('systemd unit-name escaping', () => {
  it('escapes as systemd-escape does', function () {
    const probe = spawnSync('systemd-escape', ['--', 'a-b'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      // systemd is part of every supported host; without it the table below still checks.
      if (process.env.CI === 'true') throw new Error('systemd-escape is required under CI=true');
      this.skip();
    }
    for (const sample of SAMPLES) {
      const expected = spawnSync('systemd-escape', ['--', sample], {
        encoding: 'utf8',
      }).stdout.trim();
      assert.equal(systemdEscape(sample), expected, sample);
    }
  });

  it('escapes the characters that matter, and round-trips', () => {
    assert.equal(systemdEscape('word-press'), 'word\\x2dpress');
    assert.equal(systemdEscape('.hidden'), '\\x2ehidden');
    assert.equal(systemdEscape('a/b'), 'a-b');
    for (const sample of SAMPLES) assert.equal(systemdUnescape(systemdEscape(sample)), sample);
  });

  it('names template instances and reads them back', () => {
    assert.equal(templateInstance('dpe', 'web-1'), 'dpe@web\\x2d1.service');
    assert.equal(instanceOf('dpe', 'dpe@web\\x2d1.service'), 'web-1');
    assert.equal(instanceOf('dpe', 'cpe.service'), undefined);
  });
});
