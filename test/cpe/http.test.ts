/**
 * The event log's query API over HTTP, QMF and cpectl, against a real CPE
 * (its embedded router, SQLite, fastify), fed through events_submit as DPEs
 * feed it.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventsCommand } from '../../cli/events.js';
import { openApiText } from '../../cpe/http-routes.js';
import { eventBody, type QmfMap } from '../../lib/bus/qmf.js';
import { packageRoot } from '../../lib/paths.js';
import { CpeClient, CpeProcess } from '../support/cpe.js';
import { runCommands } from '../support/cpectl.js';

const T0 = Date.parse('2026-11-26T10:00:00Z');

/** A DPE-like event: one of three deployables, failures every fourth. */
function event(i: number, over: QmfMap = {}): QmfMap {
  const failed = i % 4 === 0;
  return eventBody({
    name: failed ? 'service_state_change' : 'action_started',
    timestamp: T0 + i * 1000,
    severity: failed ? 'warn' : 'info',
    values: {
      id: `e-${i}`,
      deployable: `d${i % 3}`,
      assembly: `a${i % 2}`,
      service: 'web',
      type: 'start',
      rule: 'r',
      reason: `reason ${i}`,
      ...(failed ? { state: 'failed', previous: 'running', reason: `crash ${i}` } : {}),
      ...over,
    },
  });
}

async function sse(
  url: string,
  headers: Record<string, string>,
  until: (ids: number[]) => boolean,
): Promise<number[]> {
  const ac = new AbortController();
  const res = await fetch(url, { headers, signal: ac.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const ids: number[] = [];
  const decoder = new TextDecoder();
  let text = '';
  const timer = setTimeout(() => ac.abort(), 10_000);
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
      ids.length = 0;
      for (const m of text.matchAll(/^id: (\d+)\ndata: (.*)$/gm)) {
        assert.equal((JSON.parse(m[2]!) as { seq: number }).seq, Number(m[1]));
        ids.push(Number(m[1]));
      }
      if (until(ids)) break;
    }
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return ids;
}

describe('the event log API (a real CPE: HTTP, QMF and cpectl)', function () {
  this.timeout(60_000);
  let cpe: CpeProcess;
  let api: CpeClient;
  let base: string;
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${path}`, { headers });
    return { status: res.status, body: (await res.json()) as QmfMap };
  };
  const seqsOf = (body: QmfMap): number[] => (body.events as QmfMap[]).map((e) => e.seq as number);

  before(async () => {
    cpe = await CpeProcess.create();
    await cpe.start();
    base = cpe.httpUrl;
    // It hands events over as the DPE of "test" does (the CPE takes them from that DPE only).
    api = new CpeClient(cpe.urlAs('dpe.test'));
    await api.bus.whenUp(10_000);
    const r = await api.call('events_submit', {
      source: 'dpe.test',
      events: Array.from({ length: 30 }, (_, i) => event(i)),
    });
    assert.deepEqual(r, { accepted: 30, duplicates: 0, refused: [] });
  });
  after(async () => {
    await api?.close();
    await cpe?.stop();
  });

  it('stores a resent event once, and says what it refused', async () => {
    const r = await api.call('events_submit', {
      source: 'dpe.test',
      events: [
        event(3),
        { not: 'an event' },
        eventBody({ name: 'x', timestamp: 1, severity: 'info', values: {} }),
      ],
    });
    assert.deepEqual(r, {
      accepted: 0,
      duplicates: 1,
      refused: ['event 1: _schema_id._class_name is missing', 'x: no id'],
    });
  });

  it('answers GET /api/v1/events with every filter, newest first', async () => {
    const all = await get('/api/v1/events?limit=1000');
    assert.equal(all.status, 200);
    const ours = (all.body.events as QmfMap[]).filter((e) => (e.id as string).startsWith('e-'));
    assert.equal(ours.length, 30);
    assert.equal(ours[0]!.id, 'e-29');
    assert.equal(ours[0]!.time, new Date(T0 + 29_000).toISOString());
    assert.equal(ours[0]!.source, 'dpe.test');
    const ids = async (q: string): Promise<unknown[]> =>
      ((await get(`/api/v1/events?${q}`)).body.events as QmfMap[]).map((e) => e.id);
    assert.deepEqual(await ids('deployable=d1&kind=service_state_change'), ['e-28', 'e-16', 'e-4']);
    assert.deepEqual(await ids('assembly=a1&service=web&limit=2'), ['e-29', 'e-27']);
    assert.deepEqual(await ids('state=failed&severity=warn&limit=2'), ['e-28', 'e-24']);
    assert.deepEqual(
      await ids(`since=${new Date(T0 + 10_000).toISOString()}&until=${T0 + 12_000}&deployable=d0`),
      ['e-12'],
    );
    assert.deepEqual(await ids('text=crash%2020'), ['e-20']);
  });

  it('pages with next_cursor, and follows with last_seq', async () => {
    const seen: number[] = [];
    let q = 'deployable=d2&limit=4';
    for (;;) {
      const { body } = await get(`/api/v1/events?${q}`);
      seen.push(...seqsOf(body));
      if (body.next_cursor === null) break;
      q = `deployable=d2&limit=4&cursor=${body.next_cursor as string}`;
    }
    assert.equal(seen.length, 10);
    assert.equal(new Set(seen).size, 10);
    const first = await get('/api/v1/events?follow=true&after=0&limit=5');
    assert.deepEqual(seqsOf(first.body), [1, 2, 3, 4, 5]);
    assert.equal(first.body.last_seq, 5);
  });

  it('answers a follow as soon as a matching event is stored (long poll)', async () => {
    const { body } = await get('/api/v1/events?limit=1');
    const after = body.last_seq as number;
    const started = Date.now();
    const waiting = get(`/api/v1/events?follow=true&after=${after}&wait_ms=20000&deployable=late`);
    await new Promise((r) => setTimeout(r, 300));
    await api.call('events_submit', {
      source: 'dpe.test',
      events: [event(100, { deployable: 'other' })],
    });
    await api.call('events_submit', {
      source: 'dpe.test',
      events: [event(101, { deployable: 'late' })],
    });
    const got = await waiting;
    assert.deepEqual(
      (got.body.events as QmfMap[]).map((e) => e.id),
      ['e-101'],
    );
    assert.ok(Date.now() - started < 15_000);
  });

  it('refuses hostile and malformed filters with 400 BAD_FILTER, and changes nothing', async () => {
    const before = (await get('/api/v1/events?limit=1')).body.last_seq;
    const cases: [string, RegExp][] = [
      ['limit=100000', /limit must be <= 1000/],
      ['limit=-1', /limit must be >= 1/],
      ['limit=ten', /limit must be integer/],
      ['limit=1&limit=2', /limit must be integer/],
      ['since=yesterday', /since: expected an ISO 8601/],
      ['until=2026-02-30T00:00:00Z', /until: expected/],
      ['deployable=x%27%20OR%201%3D1--', /deployable must match pattern/],
      ['deployable[$ne]=x', /unknown parameter "deployable\[\$ne\]"/],
      ['where=1', /unknown parameter "where"/],
      ['severity=loud', /severity must be equal to one of the allowed values/],
      ['kind=a;DROP%20TABLE%20events', /kind must match pattern/],
      ['after=3', /after and wait_ms go with follow=true/],
      ['follow=true&wait_ms=999999', /wait_ms must be <= 30000/],
      ['cursor=Zm9v', /cursor: not a cursor/],
    ];
    for (const [q, message] of cases) {
      const r = await get(`/api/v1/events?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.body.code, 'BAD_FILTER', q);
      assert.match(r.body.message as string, message, q);
    }
    assert.equal((await get('/api/v1/events?limit=1')).body.last_seq, before);
    const missing = await get('/api/v1/nothing');
    assert.deepEqual([missing.status, missing.body.code], [404, 'NOT_FOUND']);
  });

  it('streams events as server-sent events, resuming after Last-Event-ID', async () => {
    const stream = sse(
      `${base}/api/v1/events/stream?deployable=d1`,
      { 'last-event-id': '20' },
      (ids) => ids.includes(40_000) || ids.some((id) => id > 31),
    );
    await new Promise((r) => setTimeout(r, 300));
    await api.call('events_submit', {
      source: 'dpe.test',
      events: [event(31, { deployable: 'd1' })],
    });
    const ids = await stream;
    // The backlog after seq 20 for d1 (e-22, e-25, e-28), then the live one.
    const { body } = await get('/api/v1/events?deployable=d1&limit=1');
    assert.deepEqual(ids, [23, 26, 29, body.last_seq]);
    const bad = await fetch(`${base}/api/v1/events/stream`, { headers: { 'last-event-id': 'x' } });
    assert.equal(bad.status, 400);
  });

  it('answers events_query over QMF with the same filters, BAD_FILTER alike', async () => {
    const r = await api.call('events_query', {
      deployable: 'd1',
      kind: 'service_state_change',
      limit: 2,
    });
    assert.deepEqual(
      (r.events as QmfMap[]).map((e) => e.id),
      ['e-28', 'e-16'],
    );
    assert.ok((r.events as QmfMap[])[0]!.time instanceof Date);
    assert.equal(typeof r.next_cursor, 'string');
    await assert.rejects(api.call('events_query', { since: 'soon' }), { code: 'BAD_FILTER' });
    await assert.rejects(api.call('events_query', { limit: 5000 }), { code: 'BAD_FILTER' });
    await assert.rejects(api.call('events_query', { deployable: 7 }), { code: 'BAD_ARGUMENT' });
    await assert.rejects(api.call('events_query', { $where: 'x' }), { code: 'UNKNOWN_ARGUMENT' });
  });

  it('answers GET /api/v1/deployables[/NAME] with deployable_status', async () => {
    const all = await get('/api/v1/deployables');
    assert.deepEqual([all.status, all.body], [200, { deployables: [] }]);
    const one = await get('/api/v1/deployables/nosuch');
    assert.deepEqual([one.status, one.body.code], [404, 'UNKNOWN_DEPLOYABLE']);
    const bad = await get('/api/v1/deployables/..%2Fetc');
    assert.deepEqual([bad.status, bad.body.code], [400, 'BAD_ARGUMENT']);
  });

  it('serves the OpenAPI document that schemas/openapi.json holds', async () => {
    const { body } = await get('/api/v1/openapi.json');
    const file = readFileSync(join(packageRoot(), 'schemas', 'openapi.json'), 'utf8');
    assert.equal(file, openApiText(), 'schemas/openapi.json is stale: npm run openapi');
    assert.deepEqual(body, JSON.parse(file));
  });

  it('is what cpectl events prints: filters, --json, --follow, and exit statuses', async () => {
    const cpectl = (...args: string[]) =>
      runCommands(
        [eventsCommand],
        ['events', '--bus-url', cpe.url, '--config', cpe.settingsFile, ...args],
      );
    const text = await cpectl('--kind', 'service_state_change', '--limit', '2', 'd1');
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /^2026-11-26T10:00:16\.000Z  warn   d1  service web on a0: running → failed \(crash 16\)\n.*crash 28\)\n$/,
    );
    assert.match(text.stderr, /older events: cpectl events --cursor \S+/);
    const json = await cpectl('--json', '--text', 'crash 8', '--deployable', 'd2');
    assert.deepEqual(
      json.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as QmfMap).id),
      ['e-8'],
    );
    const bad = await cpectl('--since', 'yesterday');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /since: expected an ISO 8601 .* \[BAD_FILTER\]/);
    assert.equal((await cpectl('--limit', 'x')).code, 2);
    assert.equal((await cpectl('--follow', '--cursor', 'abc')).code, 2);
    assert.equal((await cpectl('d1', '--deployable', 'd2')).code, 2);

    const following = cpectl('--follow', '--deployable', 'tail', '--limit', '1', '--timeout', '4');
    await new Promise((r) => setTimeout(r, 1000));
    await api.call('events_submit', {
      source: 'dpe.test',
      events: [event(200, { deployable: 'tail', reason: 'followed' })],
    });
    const f = await following;
    assert.equal(f.code, 0, f.stderr);
    assert.match(
      f.stdout,
      /^\S+  warn   tail  service web on a0: running → failed \(followed\)\n$/,
    );
  });
});

describe('the HTTP API with a token (a real CPE)', function () {
  this.timeout(60_000);

  it('requires the bearer token on /api/ when one is set', async () => {
    const cpe = await CpeProcess.create(false, {});
    const tokenFile = join(cpe.stateDir, 'http.token');
    writeFileSync(tokenFile, 'tok-123\n');
    writeFileSync(cpe.settingsFile, '{}');
    Object.assign(cpe.options, { settings: { http: { tokenFile } } });
    await cpe.start();
    try {
      const url = `${cpe.httpUrl}/api/v1/events`;
      const none = await fetch(url);
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer');
      assert.equal(((await none.json()) as QmfMap).code, 'UNAUTHORIZED');
      assert.equal((await fetch(url, { headers: { authorization: 'Bearer nope' } })).status, 401);
      // Spelled another way, the same route still wants the token.
      assert.equal((await fetch(`${cpe.httpUrl}/%61pi/v1/events`)).status, 401);
      assert.equal(
        (await fetch(url, { headers: { authorization: 'Bearer tok-123' } })).status,
        200,
      );
      const stream = await fetch(`${cpe.httpUrl}/api/v1/events/stream?access_token=tok-123`);
      assert.equal(stream.status, 200);
      await stream.body?.cancel();
      // The page itself is not a secret; what it shows is.
      assert.equal((await fetch(`${cpe.httpUrl}/`)).status, 200);
    } finally {
      await cpe.stop();
    }
  });

  it('refuses to listen beyond loopback without a token (exit 1), a missing token file or a webhook that is not HTTP (exit 2)', async () => {
    const cpe = await CpeProcess.create();
    const run = (...args: string[]): Promise<{ code: number | null; out: string }> =>
      cpe.runOnce(args);
    const open = await run('--http-host', '0.0.0.0');
    assert.equal(open.code, 1, open.out);
    assert.match(open.out, /http\.host 0\.0\.0\.0 is beyond loopback: set http\.tokenFile/);
    const missing = await run('--http-token-file', '/nonexistent/token');
    assert.equal(missing.code, 2, missing.out);
    assert.match(missing.out, /^cpe: http\.tokenFile: \/nonexistent\/token: no such file/m);
    const hook = await run('--events-webhook-url', 'ftp://example/hook');
    assert.equal(hook.code, 2, hook.out);
    assert.match(
      hook.out,
      /^cpe: events\.webhookUrl: "ftp:\/\/example\/hook" is not an http\(s\) URL/m,
    );
  });
});
