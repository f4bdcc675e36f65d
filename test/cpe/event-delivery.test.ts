/**
 * At least once, exactly one record: a DPE's events wait in its outbox while
 * the CPE is away, survive kill -9 of the DPE, and are stored once when the
 * CPE is back (real CPE, DPE and simulated agents; embedded router).
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { QmfMap } from '../../lib/bus/qmf.js';
import { until } from '../support/bus.js';
import { simConfig, startLoop, waitFor, type Loop } from '../support/dpe.js';

describe('event delivery across kill -9 of the CPE and the DPE', function () {
  this.timeout(120_000);
  const name = 'delivery';
  let loop: Loop;
  const status = (): Promise<QmfMap> => loop.api.call('deployable_status', { name });
  const logged = async (): Promise<QmfMap[]> =>
    (await loop.api.call('events_query', { deployable: name, limit: 1000 })).events as QmfMap[];

  before(async () => {
    loop = await startLoop({
      name,
      xml: (dir) => simConfig(name, join(dir, 'recover')),
      settings: (dir) => {
        const script = join(dir, 'recover');
        writeFileSync(script, '#!/bin/sh\nexit 0\n');
        chmodSync(script, 0o755);
        return { recovery: { commands: script }, dpe: { agentReconnectMs: 2000 } };
      },
    });
    await waitFor(status, (s) => s.state === 'running', 30_000, 'the deployable running');
  });
  after(() => loop?.close());

  it('stores every event the DPE made while the CPE was away, once, even after the DPE was killed', async () => {
    const { cpe } = loop;
    const outbox = join(cpe.stateDir, 'dpe', name, 'outbox.jsonl');
    const dpePid = Number((await status()).dpe_pid);
    const before = new Set((await logged()).map((e) => e.id));

    await cpe.kill9(); // the bus (its router) goes with it: the DPE tells "I lost the bus"
    const pending = (): { id: string; name: string }[] =>
      existsSync(outbox)
        ? readFileSync(outbox, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => (JSON.parse(l) as { e?: { n: string; v: { id: string } } }).e)
            .filter((e) => e !== undefined)
            .map((e) => ({ id: e.v.id, name: e.n }))
        : [];
    const lostBus = (): string | undefined =>
      pending().find((e) => e.name === 'deployable_state_change')?.id;
    await until(() => lostBus() !== undefined, 10_000, "the DPE's event in its outbox");
    const waiting = pending().map((e) => e.id);
    const lost = lostBus();

    process.kill(dpePid, 'SIGKILL'); // …and the DPE dies before it could hand them over
    await cpe.start();
    await loop.api.bus.whenUp(10_000);
    await waitFor(status, (s) => s.dpe_ready === true && s.dpe_pid !== dpePid, 30_000, 'a new DPE');
    await waitFor(
      logged,
      (events) => waiting.every((id) => events.some((e) => e.id === id)),
      20_000,
      'the waiting events in the log',
    );
    const events = await logged();
    const ids = events.map((e) => e.id as string);
    assert.equal(new Set(ids).size, ids.length, 'an event stored twice');
    // What the killed CPE had acknowledged is all still there.
    assert.deepEqual(
      [...before].filter((id) => !ids.includes(id as string)),
      [],
    );
    assert.ok(before.size > 5);
    const state = events.find((e) => e.id === lost);
    assert.equal(state?.kind, 'deployable_state_change');
    assert.equal(state?.state, 'unknown');
    assert.equal(state?.source, `dpe.${name}`);
    // The CPE's own record of the DPE it found dead, and of the new one.
    const fresh = events.filter((e) => !before.has(e.id));
    assert.ok(fresh.some((e) => e.kind === 'dpe_exited' || e.kind === 'dpe_started'));
    await until(
      () => !existsSync(outbox) || readFileSync(outbox, 'utf8') === '',
      10_000,
      'the outbox emptied',
    );
  });
});
