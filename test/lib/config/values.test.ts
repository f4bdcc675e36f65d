import assert from 'node:assert/strict';
import { parseDeployableConfig } from '../../../lib/config/index.js';
import {
  Invalid,
  formatDuration,
  parseDuration,
  parseEscalationCount,
  parseEscalationPeriod,
  parseMemory,
  parseScore,
  readOriginalCount,
  readOriginalInteger,
  readOriginalPeriod,
} from '../../../lib/config/values.js';

const DAY = 24 * 3600 * 1000;

describe('config values', () => {
  it('reads durations as the original wrote them', () => {
    assert.equal(parseDuration('10s', DAY), 10_000);
    assert.equal(parseDuration('1m', DAY), 60_000);
    assert.equal(parseDuration('500ms', DAY), 500);
    assert.equal(parseDuration('30', DAY), 30_000);
    assert.equal(parseDuration(' 2h ', DAY), 7_200_000);
    assert.equal(parseDuration('1.5s', DAY), 1500);
    assert.equal(parseDuration('2min', DAY), 120_000);
    assert.ok(parseDuration('0', DAY) instanceof Invalid);
    assert.ok(parseDuration('10 parsecs', DAY) instanceof Invalid);
    assert.ok(parseDuration('-5s', DAY) instanceof Invalid);
    assert.ok(parseDuration('25h', DAY) instanceof Invalid);
  });

  it('formats durations back to the shortest exact form', () => {
    for (const ms of [500, 1000, 1500, 60_000, 90_000, 3_600_000]) {
      assert.equal(parseDuration(formatDuration(ms), DAY), ms);
    }
    assert.equal(formatDuration(120_000), '2m');
  });

  it('reads escalation values: counts, INFINITY and -1', () => {
    assert.equal(parseEscalationCount('3'), 3);
    assert.equal(parseEscalationCount('INFINITY'), null);
    assert.equal(parseEscalationCount('-1'), null);
    assert.ok(parseEscalationCount('0') instanceof Invalid);
    assert.ok(parseEscalationCount('three') instanceof Invalid);
    assert.equal(parseEscalationPeriod('10', DAY), 10_000);
    assert.equal(parseEscalationPeriod('60s', DAY), 60_000);
    assert.equal(parseEscalationPeriod('+INFINITY', DAY), null);
  });

  it('clamps scores to ±INFINITY (1,000,000)', () => {
    assert.equal(parseScore('INFINITY'), 1_000_000);
    assert.equal(parseScore('-INFINITY'), -1_000_000);
    assert.equal(parseScore('-50'), -50);
    assert.equal(parseScore('9999999'), 1_000_000);
    assert.ok(parseScore('lots') instanceof Invalid);
  });

  it('reads memory in MiB with binary units', () => {
    assert.equal(parseMemory('512'), 512);
    assert.equal(parseMemory('512M'), 512);
    assert.equal(parseMemory('8G'), 8192);
    assert.equal(parseMemory('1.5GiB'), 1536);
    assert.equal(parseMemory('512K'), 0.5);
    assert.ok(parseMemory('lots') instanceof Invalid);
  });
});

/**
 * The schema checks lexical forms and values.ts converts them: the two must
 * agree on what is well-formed, or a value could pass one and fail the other.
 */
describe('schema and converters agree', () => {
  const serviceWith = (attrs: string): string =>
    `<deployable name="x" uuid="1" schema_version="2"><assemblies><assembly name="a" uuid="a"><services>` +
    `<service name="s" class="lsb" type="t" ${attrs}/></services></assembly></assemblies></deployable>`;

  const cases: [attr: string, value: string, convert: (v: string) => unknown][] = [];
  for (const v of [
    '10s',
    '1m',
    '500ms',
    '30',
    '1.5s',
    '2min',
    '2h',
    '3sec',
    '10 s',
    '10S',
    '1d',
    's',
    '',
    '1.2345s',
    '-1s',
  ]) {
    cases.push(['monitor_interval', v, (x) => parseDuration(x, DAY)]);
  }
  for (const v of ['3', '-1', 'INFINITY', '+INFINITY', 'infinity', 'three', '-2', '1.5', '']) {
    cases.push(['escalation_failures', v, parseEscalationCount]);
  }
  for (const v of ['100', '-50', 'INFINITY', '-INFINITY', '+7', 'lots', '1.5', '']) {
    cases.push(['stickiness', v, parseScore]);
  }

  for (const [attr, value, convert] of cases) {
    it(`${attr}="${value}"`, async () => {
      const result = await parseDeployableConfig(serviceWith(`${attr}="${value}"`));
      const converted = convert(value);
      const lexicallyValid =
        !(converted instanceof Invalid) || /greater than zero|at least 1/.test(converted.reason);
      const schemaRefused =
        !result.ok && result.issues.some((i) => /does not have the expected form/.test(i.message));
      assert.equal(!schemaRefused, lexicallyValid, JSON.stringify(result));
    });
  }
});

describe("version-1 escalation text, read as the original's strtol read it", () => {
  it('takes the leading whole number; zero, negative, none or past a 64-bit long is never', () => {
    const cases: [string, number | null][] = [
      ['3', 3],
      ['  3x', 3],
      ['+4', 4],
      ['1.5', 1],
      ['1m', 1],
      ['0', null],
      ['-5', null],
      ['never', null],
      ['', null],
      ['INFINITY', null],
      ['9223372036854775807', 2 ** 63],
      ['9223372036854775808', null],
    ];
    for (const [text, want] of cases) assert.equal(readOriginalInteger(text), want, text);
  });

  it('warns where that reading is not what the text seems to say, and not where it is', () => {
    assert.deepEqual(readOriginalCount('3'), { value: 3, note: null });
    assert.deepEqual(readOriginalCount('never'), { value: null, note: null });
    assert.match(readOriginalCount('3x').note ?? '', /is read as 3, as the original read it/);
    const max = 30 * 86_400_000;
    assert.deepEqual(readOriginalPeriod('10', max), { value: 10_000, note: null });
    assert.deepEqual(readOriginalPeriod('-1', max), { value: null, note: null });
    assert.match(readOriginalPeriod('1m', max).note ?? '', /read as 1s.*it means 1m$/);
    assert.equal(readOriginalPeriod('99999999999', max).value, max);
    assert.match(readOriginalPeriod('99999999999', max).note ?? '', /the longest period/);
  });
});
