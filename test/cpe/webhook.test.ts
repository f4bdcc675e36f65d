import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebhookPublisher, type WebhookOptions } from '../../cpe/webhook.js';
import type { LoggedEvent } from '../../lib/events/record.js';
import { silentLogger } from '../../lib/log.js';

const event = (seq: number): LoggedEvent => ({
  seq,
  id: `e${seq}`,
  time: 1,
  stored: 2,
  deployable: 'd',
  assembly: null,
  service: null,
  kind: 'notify',
  state: null,
  severity: 'notice',
  source: 'cpe',
  text: `event ${seq}`,
  values: {},
});

/** A real HTTP endpoint on loopback that answers with the statuses given, in turn (then 200). */
async function endpoint(statuses: number[] = []) {
  const got: { auth: string | undefined; seqs: number[] }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const status = statuses.shift() ?? 200;
      if (status === 200) {
        const { events } = JSON.parse(body) as { events: LoggedEvent[] };
        got.push({ auth: req.headers.authorization, seqs: events.map((e) => e.seq) });
      }
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return { url, got, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('the webhook publisher (a real HTTP endpoint)', () => {
  const fast = { first: 20, max: 40 };
  const hookTo = (url: string, more: Partial<WebhookOptions> = {}): WebhookPublisher =>
    new WebhookPublisher({ url, maxQueue: 100, backoffMs: fast, log: silentLogger(), ...more });

  it('POSTs events in order, in batches, with the bearer token', async () => {
    const ep = await endpoint();
    const hook = hookTo(ep.url, { token: 's3cret', batch: 2 });
    hook.publish([event(1), event(2), event(3)]);
    hook.publish([event(4)]);
    await hook.idle();
    assert.deepEqual(
      ep.got.flatMap((g) => g.seqs),
      [1, 2, 3, 4],
    );
    assert.ok(ep.got.every((g) => g.auth === 'Bearer s3cret'));
    assert.deepEqual(hook.stats(), { queued: 0, sent: 4, dropped: 0, failures: 0 });
    hook.close();
    await ep.close();
  });

  it('retries after 5xx, 429 and a refused connection, losing nothing', async () => {
    const ep = await endpoint([500, 429, 503]);
    const hook = hookTo(ep.url);
    hook.publish([event(1), event(2)]);
    await hook.idle();
    assert.deepEqual(
      ep.got.flatMap((g) => g.seqs),
      [1, 2],
    );
    assert.equal(hook.stats().failures, 3);
    hook.close();
    await ep.close();

    const gone = hookTo(ep.url);
    gone.publish([event(3)]);
    await new Promise((r) => setTimeout(r, 150));
    assert.ok(gone.stats().failures >= 2);
    assert.equal(gone.stats().queued, 1);
    gone.close();
  });

  it('drops a batch the endpoint refuses (4xx), and goes on', async () => {
    const ep = await endpoint([400]);
    const hook = hookTo(ep.url, { batch: 1 });
    hook.publish([event(1), event(2)]);
    await hook.idle();
    assert.deepEqual(
      ep.got.flatMap((g) => g.seqs),
      [2],
    );
    assert.deepEqual(hook.stats(), { queued: 0, sent: 1, dropped: 1, failures: 0 });
    hook.close();
    await ep.close();
  });

  it('bounds its queue: the oldest are dropped and counted while the endpoint is away', async () => {
    const ep = await endpoint([503]);
    const hook = hookTo(ep.url, { maxQueue: 3, batch: 10, backoffMs: { first: 100, max: 100 } });
    hook.publish([event(1)]); // in flight, and failing
    await new Promise((r) => setTimeout(r, 30));
    hook.publish([2, 3, 4, 5].map(event));
    await hook.idle();
    const sent = ep.got.flatMap((g) => g.seqs);
    assert.deepEqual(sent, [3, 4, 5]);
    assert.equal(hook.stats().dropped, 2);
    hook.close();
    await ep.close();
  });
});
