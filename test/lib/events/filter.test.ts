import assert from 'node:assert/strict';
import {
  encodeCursor,
  EVENT_FILTERS,
  MAX_LIMIT,
  parseEventQuery,
  parseTime,
} from '../../../lib/events/filter.js';

const NOW = Date.parse('2026-11-26T12:00:00Z');
const parse = (raw: Record<string, unknown>) => parseEventQuery(raw, NOW);
const refused = (raw: Record<string, unknown>, message: RegExp): void =>
  assert.throws(() => parse(raw), { code: 'BAD_FILTER', message });

describe('event filters', () => {
  it('defaults to the newest 100, not following', () => {
    assert.deepEqual(parse({}), { limit: 100, follow: false, waitMs: 0 });
  });

  it('takes every filter of the table, from strings (HTTP) or typed values (QMF)', () => {
    const q = parse({
      deployable: 'wordpress',
      assembly: 'web1',
      service: 'httpd',
      kind: 'service_state_change',
      state: 'failed',
      severity: 'warn',
      since: '2026-11-26T11:00:00Z',
      until: String(NOW),
      text: '50%_off',
      limit: '20',
    });
    assert.deepEqual(q, {
      deployable: 'wordpress',
      assembly: 'web1',
      service: 'httpd',
      kind: 'service_state_change',
      state: 'failed',
      severity: 'warn',
      since: NOW - 3_600_000,
      until: NOW,
      text: '50%_off',
      limit: 20,
      follow: false,
      waitMs: 0,
    });
    assert.deepEqual(parse({ follow: true, after: 7, wait_ms: 500 }), {
      limit: 100,
      follow: true,
      after: 7,
      waitMs: 500,
    });
    assert.deepEqual(Object.keys(EVENT_FILTERS).sort(), [
      'after',
      'assembly',
      'cursor',
      'deployable',
      'follow',
      'kind',
      'limit',
      'service',
      'severity',
      'since',
      'state',
      'text',
      'until',
      'wait_ms',
    ]);
  });

  it('reads times as ISO 8601, ms since the epoch, a Date, or an age', () => {
    assert.equal(parseTime('since', '2026-11-26', NOW), Date.parse('2026-11-26'));
    assert.equal(parseTime('since', '2026-11-26T13:00:00+01:00', NOW), NOW);
    assert.equal(parseTime('since', NOW, NOW), NOW);
    assert.equal(parseTime('since', new Date(NOW), NOW), NOW);
    assert.equal(parseTime('since', '90s', NOW), NOW - 90_000);
    assert.equal(parseTime('since', '10m', NOW), NOW - 600_000);
    assert.equal(parseTime('since', '2h', NOW), NOW - 7_200_000);
    assert.equal(parseTime('since', '7d', NOW), NOW - 7 * 86_400_000);
  });

  it('refuses dates that are not dates, and ranges that are empty', () => {
    for (const bad of ['yesterday', 'March', '2026-13-45', '-5m', '2026-11-26 12:00', '', '1e9'])
      refused({ since: bad }, /^since: expected an ISO 8601/);
    refused({ until: { $gt: 0 } }, /^until: expected/);
    refused({ since: '1h', until: '2h' }, /since is after until/);
  });

  it('refuses unknown filters, and operators, SQL and wrong types in known ones', () => {
    refused({ deployable_name: 'x' }, /unknown filter "deployable_name"/);
    refused({ $where: '1' }, /unknown filter "\$where"/);
    refused({ ['deployable[$ne]']: 'x' }, /unknown filter/);
    refused({ deployable: { $ne: 'x' } }, /deployable: expected a string/);
    refused({ deployable: ['a', 'b'] }, /deployable: expected a string/);
    refused({ deployable: "a' OR 1=1 --" }, /is not a valid deployable/);
    refused({ kind: 'x; DROP TABLE events' }, /is not a valid kind/);
    refused({ severity: 'loud' }, /severity: must be one of emerg, alert/);
    refused({ text: 'x'.repeat(201) }, /text: longer than 200/);
    refused({ follow: 'yes' }, /follow: expected true or false/);
  });

  it('caps the limit and the wait, and refuses what is not a whole number', () => {
    assert.equal(parse({ limit: MAX_LIMIT }).limit, MAX_LIMIT);
    refused({ limit: MAX_LIMIT + 1 }, /limit: must be at most 1000/);
    refused({ limit: '1e9' }, /limit: expected an integer/);
    refused({ limit: 0 }, /limit: must be at least 1/);
    refused({ limit: -1 }, /limit: must be at least 1/);
    refused({ limit: 2.5 }, /limit: expected an integer/);
    refused({ limit: '99999999999999999999' }, /limit: expected an integer/);
    refused({ follow: true, wait_ms: 30_001 }, /wait_ms: must be at most 30000/);
  });

  it('takes back the cursors it gives out, and refuses others', () => {
    assert.deepEqual(parse({ cursor: encodeCursor(NOW, 42) }).cursor, { time: NOW, seq: 42 });
    refused({ cursor: 'bm90IGEgY3Vyc29y' }, /cursor: not a cursor/);
    refused({ cursor: 'a b' }, /cursor: .* is not a valid cursor/);
  });

  it('refuses contradictions: a cursor with follow, after or wait_ms without it', () => {
    refused({ follow: true, cursor: encodeCursor(1, 1) }, /not both/);
    refused({ after: 3 }, /go with follow=true/);
    refused({ wait_ms: 100 }, /go with follow=true/);
  });

  it('takes null and absent as "not filtered"', () => {
    assert.deepEqual(parse({ deployable: null, since: undefined }), parse({}));
  });
});
