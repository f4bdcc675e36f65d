import assert from 'node:assert/strict';
import { BusKey } from '../../../lib/bus/credentials.js';
import { mayReceive, maySend, mustSign, roleOf, speaksFor } from '../../../lib/bus/identity.js';

describe('bus identities', () => {
  it('take their role from the user name', () => {
    assert.equal(roleOf('cpe'), 'cpe');
    assert.equal(roleOf('dpe.web'), 'dpe');
    assert.equal(roleOf('agent.web.a1'), 'agent');
    assert.equal(roleOf('agent.web'), 'agent');
    for (const other of ['client', 'alice', 'dpe', 'dpe.', 'agent.', 'cpe.x'])
      assert.equal(roleOf(other), 'client', other);
  });

  // [user, address, may receive, may send]
  const TABLE: readonly (readonly [string, string, boolean, boolean])[] = [
    ['cpe', 'cpe', true, true],
    ['cpe', 'dpe.web', true, true],
    ['client', 'cpe', false, true],
    ['client', 'cpe.events', true, false],
    ['client', 'cpe.events.original', true, false],
    ['client', 'cpe.dpe', true, false],
    ['client', 'cpe.heartbeats.web', true, false],
    ['client', 'dpe.web', false, true],
    ['client', 'agent.web.a1', false, true],
    ['client', 'cloud.manager', true, true],
    ['client', 'reply.cpectl.1234', true, true],
    ['dpe.web', 'dpe.web', true, false],
    ['dpe.web', 'dpe.db', false, false],
    ['dpe.web', 'cpe', false, true],
    ['dpe.web', 'cpe.dpe', false, true],
    ['dpe.web', 'cpe.events', true, false],
    ['dpe.web', 'cpe.events.original', false, false],
    ['dpe.web', 'cpe.heartbeats.web', true, false],
    ['dpe.web', 'cpe.heartbeats.db', false, false],
    ['dpe.web', 'agent.web.a1', false, true],
    ['dpe.web', 'agent.db.a1', false, false],
    ['dpe.web', 'cloud.manager', false, true],
    ['agent.web.a1', 'agent.web.a1', true, false],
    ['agent.web.a1', 'agent.web.a2', false, false],
    ['agent.web.a1', 'cpe.heartbeats.web', false, true],
    ['agent.web.a1', 'cpe.heartbeats.db', false, false],
    ['agent.web.a1', 'cpe', false, false],
    ['agent.web.a1', 'cpe.dpe', false, false],
    ['agent.web.a1', 'reply.dpe.web.1', true, true],
    ['agent.web', 'agent.web.a2', true, false],
    ['agent.web', 'cpe.heartbeats.web', false, true],
    ['agent.web', 'agent.webshop.a1', false, false],
  ];

  for (const [user, address, receive, send] of TABLE)
    it(`${user}: ${receive ? '' : 'not '}receive, ${send ? '' : 'not '}send on ${address}`, () => {
      assert.equal(mayReceive(user, address), receive);
      assert.equal(maySend(user, address), send);
    });

  it("sign their messages where they are a DPE's or an agent's", () => {
    assert.equal(mustSign('dpe.web'), true);
    assert.equal(mustSign('agent.web.a1'), true);
    assert.equal(mustSign('client'), false);
    assert.equal(mustSign('cpe'), false);
  });

  it('speak only for themselves where the user-id says who they are', () => {
    assert.equal(speaksFor('dpe.web', 'dpe.web', true), true);
    assert.equal(speaksFor('dpe.db', 'dpe.web', false), false);
    assert.equal(speaksFor('agent.web', 'agent.web.a1', false), true);
    assert.equal(speaksFor('agent.web.a1', 'agent.web.a2', false), false);
    assert.equal(speaksFor('cpe', 'dpe.web', true), true);
    // Without identities (a shared broker user, or none) nothing can be told...
    assert.equal(speaksFor(undefined, 'dpe.web', false), true);
    assert.equal(speaksFor('guest', 'dpe.web', false), true);
    // ...but where the bus checks them, one is needed.
    assert.equal(speaksFor(undefined, 'dpe.web', true), false);
    assert.equal(speaksFor('client', 'dpe.web', true), false);
  });

  it("derive each user's password from the bus key, and nobody else's", () => {
    const key = new BusKey(Buffer.alloc(32, 7));
    const other = new BusKey(Buffer.alloc(32, 8));
    const password = key.password('dpe.web');
    assert.match(password, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(key.password('dpe.web'), password, 'stable');
    assert.equal(key.verify('dpe.web', password), true);
    assert.equal(key.verify('dpe.db', password), false);
    assert.equal(other.verify('dpe.web', password), false);
    assert.equal(key.verify('dpe.web', `${password}x`), false);
    assert.throws(() => new BusKey(Buffer.alloc(16)), { code: 'BAD_BUS_KEY' });
  });
});
