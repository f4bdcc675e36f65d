/**
 * Two fixes to rhea's decoder, imported by bus.ts and router.ts before any
 * decoding.
 *
 * 1. rhea decodes every empty AMQP list (list0, 0x45) to one shared array, and
 * its composite types (e.g. an `accepted` outcome read from list0) write their
 * fields into that array. After the first such frame, every empty list a
 * message carries decodes as eleven nulls: `{deployables: []}` arrives as
 * `{deployables: [null × 11]}`. Decoding list0 to a fresh array each time
 * fixes it.
 *
 * 2. rhea builds a decoded map with `result[key] = value`, so a map key
 * `__proto__` (any peer may send one) sets the object's prototype instead of
 * a property: an AMQP map whose `__proto__` is a timestamp made the router's
 * re-encoding throw, and its arguments would be read through a prototype a
 * peer chose. Every key is decoded to an own property instead.
 *
 * 3. rhea decodes an AMQP uuid and a binary to the same kind of Buffer, so
 * a 16-byte binary correlation id could not be told from a uuid and went
 * back as one. A decoded uuid is marked (isAmqpUuid), and ids are sent back
 * with the type they came with (wireMessageId in qmf.ts).
 *
 * Written for rhea 3.0.5, which package.json pins: a rhea whose decoder no
 * longer looks like this fails at import, loudly, rather than silently
 * decoding wrong (test/lib/bus/parts.test.ts checks the decoding).
 */
import rhea from 'rhea';

interface TypeDesc {
  typecode: number;
  create: (() => unknown) & { typecode?: number };
}

interface Types {
  by_code: Record<number, TypeDesc>;
  List0: unknown;
  is_map(o: unknown): boolean;
  unwrap(o: unknown, leaveDescribed?: boolean): unknown;
  unwrap_map_simple(o: { value: unknown[] }): unknown;
  /** Set once the map patch is in (a second import of this module finds it). */
  ownMaps?: boolean;
}

const types = (rhea as unknown as { types: Types }).types;
const list0 = types.by_code[0x45];
if (!list0 || typeof list0.create !== 'function')
  throw new Error(
    'rhea has no list0 type to patch (lib/bus/rhea-decoder.ts was written for rhea 3.0.5)',
  );
if (!(list0.create as { fresh?: boolean }).fresh) {
  const Typed = (list0.create() as { constructor: new (t: TypeDesc, v: unknown) => unknown })
    .constructor;
  const create = Object.assign(() => new Typed(list0, []), { typecode: 0x45, fresh: true });
  list0.create = create;
  types.List0 = create;
}

const UUID = Symbol.for('cloud-policy-engine.amqp-uuid');

/** Whether a Buffer was decoded from an AMQP uuid (not a binary). */
export function isAmqpUuid(value: unknown): boolean {
  return Buffer.isBuffer(value) && (value as Buffer & { [UUID]?: true })[UUID] === true;
}

/** Keys and values, in turn, as a map whose every key is its own property. */
function ownMap(elements: readonly unknown[]): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (let i = 0; i + 1 < elements.length; i += 2) {
    const key = elements[i] as string;
    const value = elements[i + 1];
    if (key === '__proto__')
      Object.defineProperty(result, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else result[key] = value;
  }
  return result;
}

if (!types.ownMaps) {
  types.ownMaps = true;
  const unwrap = types.unwrap.bind(types);
  const Typed = (list0.create() as { constructor: unknown }).constructor as abstract new () => {
    descriptor?: unknown;
    value: unknown;
    type?: { typecode?: number };
  };
  if (typeof types.unwrap_map_simple !== 'function' || typeof types.is_map !== 'function')
    throw new Error(
      'rhea has no map decoding to patch (lib/bus/rhea-decoder.ts was written for rhea 3.0.5)',
    );
  // Maps as rhea unwraps them (a body, what it holds): described ones too, unless kept
  // described (rhea's composite types, the only ones it builds from a descriptor, are lists).
  types.unwrap = (o: unknown, leaveDescribed?: boolean): unknown => {
    if (!(o instanceof Typed)) return unwrap(o, leaveDescribed);
    if (types.is_map(o) && (!o.descriptor || !leaveDescribed))
      return ownMap(types.unwrap(o.value, true) as unknown[]);
    if (o.type?.typecode === 0x98 && !o.descriptor && Buffer.isBuffer(o.value))
      return Object.defineProperty(Buffer.from(o.value), UUID, { value: true });
    return unwrap(o, leaveDescribed);
  };
  // Application properties and annotations.
  types.unwrap_map_simple = (o) => ownMap(o.value.map((i) => types.unwrap(i, true)));
}
