import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { packageRoot } from '../../../lib/paths.js';
import { EventEmitter } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { addressProfile, checkAddressName } from '../../../lib/bus/addressing.js';
import { jitteredBackoff } from '../../../lib/bus/bus.js';
import { credentialLine, Credentials } from '../../../lib/bus/credentials.js';
import { guardFrames } from '../../../lib/bus/frame-guard.js';
import {
  eventMessage,
  heartbeatMessage,
  Malformed,
  parseEvents,
  parseHeartbeat,
  parseReply,
  parseRequest,
  requestMessage,
} from '../../../lib/bus/qmf.js';
import { checkArguments } from '../../../lib/bus/schema.js';
import '../../../lib/bus/rhea-decoder.js';
import rhea from 'rhea';
import { exceedsSize } from '../../../lib/bus/size.js';

const reason = (value: unknown): string => (value instanceof Malformed ? value.reason : 'parsed');

describe('QMF messages', () => {
  it('builds and parses a method request', () => {
    const m = requestMessage(
      { objectName: 'cpe', method: 'deployable_list', args: { all: true } },
      'reply.x',
      'c1',
      5000,
    );
    assert.deepEqual(m.application_properties, {
      'x-amqp-0-10.app-id': 'qmf2',
      'qmf.opcode': '_method_request',
      method: 'request',
    });
    assert.deepEqual(parseRequest(m), {
      objectName: 'cpe',
      method: 'deployable_list',
      args: { all: true },
    });
    assert.equal(m.ttl, 5000);
  });

  it('says what is wrong with a request', () => {
    const ok = requestMessage({ objectName: 'cpe', method: 'm', args: {} }, 'r', 'c', 1);
    assert.equal(
      reason(parseRequest({ ...ok, application_properties: {} })),
      'qmf.opcode is not _method_request',
    );
    assert.equal(reason(parseRequest({ ...ok, body: [1] })), 'the body is not a map');
    assert.equal(
      reason(parseRequest({ ...ok, body: { _method_name: 'm' } })),
      '_object_id._object_name is missing or not a string',
    );
    assert.equal(
      reason(parseRequest({ ...ok, body: { _object_id: { _object_name: 'x' }, _method_name: 3 } })),
      '_method_name is missing or not a string',
    );
    assert.equal(
      reason(
        parseRequest({
          ...ok,
          body: { _object_id: { _object_name: 'x' }, _method_name: 'm', _arguments: 'a' },
        }),
      ),
      '_arguments is not a map',
    );
  });

  it('reads replies and exceptions', () => {
    const props = (opcode: string) => ({ 'qmf.opcode': opcode });
    assert.deepEqual(
      parseReply({
        application_properties: props('_method_response'),
        body: { _arguments: { a: 1 } },
      }),
      { ok: true, args: { a: 1 } },
    );
    assert.deepEqual(
      parseReply({
        application_properties: props('_exception'),
        body: { _values: { error_code: 'X', error_text: 'y' } },
      }),
      {
        ok: false,
        code: 'X',
        text: 'y',
      },
    );
    assert.deepEqual(
      parseReply({ application_properties: props('_exception'), body: { _values: {} } }),
      {
        ok: false,
        code: 'UNKNOWN_ERROR',
        text: 'no error text',
      },
    );
    assert.equal(
      reason(parseReply({ application_properties: props('_data_indication'), body: {} })),
      'unexpected qmf.opcode _data_indication in a reply',
    );
  });

  it('round-trips events, and reads a QMF list of them too', () => {
    const event = {
      name: 'service_state_change',
      timestamp: 1_700_000_000_000,
      severity: 'crit' as const,
      values: { service: 's' },
    };
    const m = eventMessage(event);
    assert.deepEqual(parseEvents(m), [event]);
    assert.deepEqual(parseEvents({ ...m, body: [m.body, m.body] }), [event, event]);
    assert.equal(
      reason(parseEvents({ ...m, application_properties: { 'qmf.opcode': '_data_indication' } })),
      'qmf.content is not _event',
    );
    assert.equal(
      reason(parseEvents({ ...m, body: { _values: {} } })),
      '_schema_id._class_name is missing',
    );
  });

  it('round-trips heartbeats', () => {
    const beat = {
      agent: 'agent.wp.a1',
      timestamp: 1_700_000_000_000,
      intervalMs: 2000,
      epoch: 'e',
      sequence: 7,
      values: { load1: 0.5 },
    };
    assert.deepEqual(parseHeartbeat(heartbeatMessage(beat)), beat);
    const m = heartbeatMessage(beat);
    assert.equal(
      reason(
        parseHeartbeat({
          ...m,
          application_properties: { 'qmf.opcode': '_agent_heartbeat_indication' },
        }),
      ),
      'qmf.agent is missing',
    );
    assert.equal(
      reason(parseHeartbeat({ ...m, body: { _values: { epoch: 'e', heartbeat_interval_ms: 1 } } })),
      'sequence is missing',
    );
  });
});

describe('method arguments', () => {
  const specs = {
    name: { type: 'string', pattern: /^[a-z]+$/, maxLength: 8 },
    count: { type: 'integer', min: 1, max: 5, optional: true },
    mode: { type: 'string', oneOf: ['a', 'b'], optional: true },
    ratio: { type: 'number', optional: true },
    tags: { type: 'list', optional: true },
  } as const;
  const code = (args: Record<string, unknown>): string => {
    try {
      checkArguments('m', specs, args as never);
      return 'ok';
    } catch (err) {
      return `${(err as { code: string }).code}: ${(err as Error).message}`;
    }
  };
  it('accepts what fits', () => {
    assert.equal(code({ name: 'abc', count: 3, mode: 'a', ratio: 2, tags: [] }), 'ok');
    assert.equal(code({ name: 'abc', count: null }), 'ok');
  });
  it('names the argument and what is wrong', () => {
    assert.equal(code({}), 'MISSING_ARGUMENT: m: missing argument "name" (string)');
    assert.equal(
      code({ name: 'abc', extra: 1 }),
      'UNKNOWN_ARGUMENT: m: unknown argument "extra" (takes name, count, mode, ratio, tags)',
    );
    assert.equal(
      code({ name: 5 }),
      'BAD_ARGUMENT: m: argument "name" must be a string, not an integer',
    );
    assert.equal(
      code({ name: 'abc', count: 1.5 }),
      'BAD_ARGUMENT: m: argument "count" must be an integer, not a number',
    );
    assert.equal(
      code({ name: 'abc', count: 9 }),
      'BAD_ARGUMENT: m: argument "count" must be at most 5',
    );
    assert.equal(
      code({ name: 'abc', mode: 'c' }),
      'BAD_ARGUMENT: m: argument "mode" must be one of a, b',
    );
    assert.equal(
      code({ name: 'ABC' }),
      'BAD_ARGUMENT: m: argument "name" does not have the expected form',
    );
    assert.equal(
      code({ name: 'abcdefghij' }),
      'BAD_ARGUMENT: m: argument "name" is longer than 8 characters',
    );
    assert.equal(
      code({ name: 'abc', tags: { a: 1 } }),
      'BAD_ARGUMENT: m: argument "tags" must be a list, not a map',
    );
    // Decoded input can carry an own __proto__ key: it is just an unknown argument.
    assert.equal(
      code(JSON.parse('{"name":"abc","__proto__":1}') as Record<string, unknown>),
      'UNKNOWN_ARGUMENT: m: unknown argument "__proto__" (takes name, count, mode, ratio, tags)',
    );
  });
});

describe('addresses', () => {
  it('spells logical addresses for each kind of peer', () => {
    assert.deepEqual(addressProfile('embedded').target('node', 'cpe'), { address: 'cpe' });
    assert.deepEqual(addressProfile('rabbitmq').source('topic', 'cpe.events'), {
      address: '/exchange/amq.topic/cpe.events',
    });
    assert.deepEqual(addressProfile('rabbitmq').target('node', 'cpe'), {
      address: '/exchange/amq.direct/cpe',
    });
    assert.deepEqual(addressProfile('artemis').source('topic', 'cpe.events'), {
      address: 'cpe.events',
      capabilities: ['topic'],
    });
    assert.throws(() => addressProfile('kafka'), { code: 'BAD_PROFILE' });
  });
  it('refuses names that would break into broker syntax', () => {
    for (const bad of ['a/b', '#', 'x*', '', '.hidden', '-opt', 'a b']) {
      assert.throws(() => checkAddressName(bad), { code: 'BAD_ADDRESS' }, bad);
    }
  });
});

describe('message size estimate', () => {
  it('is an upper bound that stops early', () => {
    assert.equal(exceedsSize({ a: 'x'.repeat(100) }, 200), false);
    assert.equal(exceedsSize({ a: 'x'.repeat(300) }, 200), true);
    assert.equal(exceedsSize([Buffer.alloc(1000)], 500), true);
    const wide = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i]));
    assert.equal(exceedsSize(wide, 1000), true);
  });
});

describe('reconnect back-off', () => {
  it('doubles up to the cap, with jitter, and restarts after a success', () => {
    const delays = jitteredBackoff(100, 1000, () => 1);
    assert.deepEqual([0, 0, 0, 0, 0, 0].map(delays), [100, 200, 400, 800, 1000, 1000]);
    assert.equal(delays(1), 100);
    const low = jitteredBackoff(100, 1000, () => 0);
    assert.deepEqual([0, 0, 0].map(low), [50, 100, 200]);
  });
});

describe('frame guard', () => {
  const feed = (chunks: Buffer[]): string[] => {
    const socket = Object.assign(new EventEmitter(), {
      destroy: () => undefined,
    }) as unknown as Socket;
    const violations: string[] = [];
    guardFrames(socket, 1024, (r) => violations.push(r));
    for (const c of chunks) socket.emit('data', c);
    return violations;
  };
  const header = (id: number) => Buffer.from([0x41, 0x4d, 0x51, 0x50, id, 1, 0, 0]);
  const frame = (size: number) => {
    const b = Buffer.alloc(size);
    b.writeUInt32BE(size, 0);
    return b;
  };
  it('passes well-formed traffic, split anywhere, through SASL and AMQP headers', () => {
    const stream = Buffer.concat([
      header(3),
      frame(30),
      frame(12),
      header(0),
      frame(1024),
      frame(8),
    ]);
    for (const cut of [1, 3, 7, 9, 40, 50, 51, 60]) {
      assert.deepEqual(feed([stream.subarray(0, cut), stream.subarray(cut)]), [], `cut at ${cut}`);
    }
    assert.deepEqual(feed([...stream].map((b) => Buffer.from([b]))), []);
  });
  it('cuts a frame over the limit, or too small to be one', () => {
    assert.deepEqual(feed([header(0), frame(8).subarray(0, 4), Buffer.from([0, 0, 0, 0])]), []);
    const big = Buffer.alloc(4);
    big.writeUInt32BE(1025, 0);
    assert.deepEqual(feed([header(0), big]), ['frame of 1025 bytes (the limit is 1024)']);
    assert.deepEqual(feed([header(0), Buffer.from([0, 0, 0, 3])]), [
      'frame of 3 bytes (the limit is 1024)',
    ]);
  });
});

describe('router credentials', () => {
  it('verifies the right password only, and reads only well-formed files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpe-cred-'));
    const file = join(dir, 'users');
    writeFileSync(file, `${await credentialLine('alice', 'a long password')}\n# comment\n\n`);
    const credentials = Credentials.fromFile(file);
    assert.equal(await credentials.verify('alice', 'a long password'), true);
    assert.equal(await credentials.verify('alice', 'a long passworD'), false);
    assert.equal(await credentials.verify('bob', 'a long password'), false);
    writeFileSync(file, 'alice:plaintext\n');
    assert.throws(() => Credentials.fromFile(file), /users:1: expected user:scrypt/);
    await assert.rejects(credentialLine('alice', 'short'), { code: 'WEAK_PASSWORD' });
    await assert.rejects(credentialLine('a:b', 'a long password'), { code: 'BAD_USER' });
  });
});

describe('the rhea decoder patches (lib/bus/rhea-decoder.ts)', () => {
  it('decodes every empty list to an array of its own, on the rhea pinned', () => {
    const types = (
      rhea as unknown as { types: { Reader: new (b: Buffer) => { read(): { value: unknown[] } } } }
    ).types;
    const read = (): unknown[] => new types.Reader(Buffer.from([0x45])).read().value;
    const first = read();
    first.push(null, null); // what rhea's composites did to the shared array
    const second = read();
    assert.notEqual(first, second);
    assert.deepEqual(second, []);
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    assert.match(
      pkg.dependencies.rhea ?? '',
      /^\d+\.\d+\.\d+$/,
      'rhea is pinned to the version the patch is for',
    );
  });
});

describe('decoded maps (lib/bus/rhea-decoder.ts)', () => {
  it('keep a __proto__ key as a key, in bodies, nested maps and application properties', () => {
    const payload: Record<string, unknown> = { a: 1, nested: { b: 2 } };
    Object.defineProperty(payload, '__proto__', {
      value: new Date(5),
      enumerable: true,
    });
    Object.defineProperty(payload.nested as object, '__proto__', {
      value: { polluted: true },
      enumerable: true,
    });
    const props: Record<string, unknown> = { x: 'y' };
    Object.defineProperty(props, '__proto__', { value: 'p', enumerable: true });
    const decoded = rhea.message.decode(
      rhea.message.encode({ body: payload, application_properties: props }),
    ) as unknown as {
      body: Record<string, unknown>;
      application_properties: Record<string, unknown>;
    };
    for (const map of [decoded.body, decoded.body.nested as object, decoded.application_properties])
      assert.equal(Object.getPrototypeOf(map), Object.prototype);
    assert.deepEqual(Object.keys(decoded.body), ['a', 'nested', '__proto__']);
    assert.ok(decoded.body.__proto__ instanceof Date);
    assert.equal((decoded.body.nested as { polluted?: unknown }).polluted, undefined);
    assert.deepEqual(Object.keys(decoded.application_properties), ['x', '__proto__']);
    // …and the router can encode it again.
    assert.doesNotThrow(() => rhea.message.encode(decoded));
  });
});
