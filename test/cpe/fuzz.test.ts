/**
 * A fuzz test of the CPE's QMF server (fast-check): random opcodes, objects,
 * methods, argument names, types and sizes, bodies that are not maps, and
 * requests without reply_to, sent raw (rhea) to a real CPE. Every request
 * with a reply_to gets exactly one answer, a response or an exception whose
 * code the documents list; the CPE still serves afterwards, as the same
 * process.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import rhea, {
  type Connection,
  type EventContext,
  type Message,
  type Receiver,
  type Sender,
} from 'rhea';
import { CpeApi, type CpeApiDeps } from '../../cpe/api.js';
import { EVENT_FILTERS } from '../../lib/events/filter.js';
import { packageRoot } from '../../lib/paths.js';
import { CpeClient, CpeProcess } from '../support/cpe.js';

/** Every code the documents give: messages.md's and cpe-api.md's backticked UPPER_CASE words. */
function documentedCodes(): Set<string> {
  const codes = new Set<string>();
  for (const file of ['messages.md', 'cpe-api.md']) {
    const text = readFileSync(join(packageRoot(), 'schemas', file), 'utf8');
    for (const m of text.matchAll(/`([A-Z][A-Z0-9_]{3,})`/g)) codes.add(m[1]!);
  }
  return codes;
}

const METHODS = Object.keys(new CpeApi({} as CpeApiDeps).methods());
// wait_ms would hold a follow open for up to 30 s a run: everything else goes.
const ARG_NAMES = [
  'name',
  'config',
  'uuid',
  'monitor',
  'source',
  'events',
  ...Object.keys(EVENT_FILTERS).filter((k) => k !== 'wait_ms'),
];

const scalar = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.constantFrom('', 'wordpress', '../etc', 'a'.repeat(65), '<deployable', 'NaN', '__proto__'),
  fc.integer(),
  fc.double({ noNaN: false }),
  fc.boolean(),
  fc.constant(null),
  fc.date({ noInvalidDate: true }),
  fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
);
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { weight: 6, arbitrary: scalar },
    { weight: 1, arbitrary: fc.array(tie('value'), { maxLength: 4 }) },
    {
      weight: 1,
      arbitrary: fc.dictionary(fc.string({ maxLength: 10 }), tie('value'), { maxKeys: 4 }),
    },
    { weight: 1, arbitrary: fc.string({ minLength: 20_000, maxLength: 70_000 }) },
  ),
})).value;

const args = fc.dictionary(
  fc.oneof(
    fc.constantFrom(...ARG_NAMES),
    fc.constantFrom('__proto__', 'constructor', '$where'),
    fc.string({ maxLength: 12 }),
  ),
  value,
  { maxKeys: 5 },
);

const request = fc.record({
  opcode: fc.oneof(
    { weight: 8, arbitrary: fc.constant('_method_request') },
    {
      weight: 1,
      arbitrary: fc.constantFrom('_method_response', '_exception', '_data_indication', 'nonsense'),
    },
    { weight: 1, arbitrary: fc.constant(undefined) },
  ),
  object: fc.oneof(
    { weight: 8, arbitrary: fc.constant('cpe') },
    { weight: 1, arbitrary: fc.constantFrom('dpe', '', '__proto__', 'toString') },
    { weight: 1, arbitrary: value },
  ),
  method: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...METHODS) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('__proto__', 'constructor', 'hasOwnProperty', 'toString', ''),
    },
    { weight: 1, arbitrary: value },
  ),
  args: fc.oneof({ weight: 6, arbitrary: args }, { weight: 1, arbitrary: value }),
  shape: fc.constantFrom('map', 'map', 'map', 'map', 'no-arguments', 'not-a-map', 'no-object-id'),
  replyTo: fc.oneof(
    { weight: 9, arbitrary: fc.constant(true) },
    { weight: 1, arbitrary: fc.constant(false) },
  ),
  correlation: fc.oneof(fc.string({ maxLength: 20 }), fc.nat(), fc.uuid()),
});

type Request = typeof request extends fc.Arbitrary<infer T> ? T : never;

function messageOf(r: Request, replyTo: string, id: string): Message {
  const body =
    r.shape === 'not-a-map'
      ? r.args
      : {
          ...(r.shape === 'no-object-id' ? {} : { _object_id: { _object_name: r.object } }),
          _method_name: r.method,
          ...(r.shape === 'no-arguments' ? {} : { _arguments: r.args }),
        };
  return {
    ...(r.replyTo ? { reply_to: replyTo } : {}),
    correlation_id: id,
    application_properties: {
      'x-amqp-0-10.app-id': 'qmf2',
      ...(r.opcode === undefined ? {} : { 'qmf.opcode': r.opcode }),
    },
    body,
  };
}

describe("the CPE's QMF server under fuzzing (fast-check, a real CPE)", function () {
  this.timeout(180_000);
  let cpe: CpeProcess;
  let connection: Connection;
  let sender: Sender;
  let replies: Receiver;
  let replyTo = '';
  const waiting = new Map<string, (m: Message) => void>();
  const answered = new Map<string, number>();

  before(async () => {
    cpe = await CpeProcess.create();
    await cpe.start();
    const login = new URL(cpe.url); // a client, as the CPE lets one in
    connection = rhea.create_container().connect({
      host: '127.0.0.1',
      port: cpe.port,
      username: login.username,
      password: login.password,
      reconnect: false,
    });
    replies = connection.open_receiver({ source: { dynamic: true } as never });
    sender = connection.open_sender({ target: { address: 'cpe' } });
    await new Promise<void>((r) => replies.once('receiver_open', () => r()));
    await new Promise<void>((r) => (sender.sendable() ? r() : sender.once('sendable', () => r())));
    replyTo = replies.source.address;
    replies.on('message', (ctx: EventContext) => {
      const id = String(ctx.message!.correlation_id);
      answered.set(id, (answered.get(id) ?? 0) + 1);
      waiting.get(id)?.(ctx.message!);
    });
  });
  after(async () => {
    connection?.close();
    await cpe?.stop();
  });

  it('answers every request with a response or a documented code, once, and keeps serving', async () => {
    const codes = documentedCodes();
    const pid = cpe.child!.pid;
    let n = 0;
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const id = `fuzz-${++n}`;
        const answer = new Promise<Message | null>((resolve) => {
          if (!r.replyTo) return resolve(null);
          const timer = setTimeout(() => resolve(null), 10_000);
          waiting.set(id, (m) => {
            clearTimeout(timer);
            resolve(m);
          });
        });
        try {
          sender.send(messageOf(r, replyTo, id));
        } catch {
          // rhea cannot encode it (an integral double past 2^64, say): no peer of ours sends it.
          waiting.delete(id);
          fc.pre(false);
        }
        const m = await answer;
        waiting.delete(id);
        if (!r.replyTo) return; // dropped, as documented: nowhere to answer
        assert.ok(m, `no answer to ${JSON.stringify(r).slice(0, 300)}`);
        const opcode: unknown = m.application_properties?.['qmf.opcode'];
        assert.ok(opcode === '_method_response' || opcode === '_exception', String(opcode));
        if (opcode === '_exception') {
          const code = (m.body as { _values?: { error_code?: unknown } })._values?.error_code;
          assert.equal(typeof code, 'string');
          assert.ok(
            codes.has(code as string) || /^CONFIG_[A-Z_]+$/.test(code as string),
            `undocumented code ${String(code)} for ${JSON.stringify(r).slice(0, 300)}`,
          );
          seen.set(code as string, (seen.get(code as string) ?? 0) + 1);
        } else seen.set('(response)', (seen.get('(response)') ?? 0) + 1);
      }),
      { numRuns: 400, seed: Number(process.env.FUZZ_SEED ?? 20261126) },
    );
    // Exactly one answer each; nothing answered a request without reply_to.
    assert.deepEqual(
      [...answered.values()].filter((count) => count !== 1),
      [],
    );
    // It was tried on more than the first check: refusals of many kinds, and answers.
    assert.ok(seen.size >= 6, JSON.stringify([...seen]));
    // Still serving, as the same process.
    const api = new CpeClient(cpe.url);
    try {
      await api.bus.whenUp(10_000);
      assert.equal((await api.call('cpe_info')).pid, pid);
      assert.ok(Array.isArray((await api.call('deployable_list')).deployables));
    } finally {
      await api.close();
    }
  });
});
