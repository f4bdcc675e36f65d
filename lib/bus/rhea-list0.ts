/**
 * rhea decodes every empty AMQP list (list0, 0x45) to one shared array, and
 * its composite types (e.g. an `accepted` outcome read from list0) write their
 * fields into that array. After the first such frame, every empty list a
 * message carries decodes as eleven nulls: `{deployables: []}` arrives as
 * `{deployables: [null × 11]}`. Decoding list0 to a fresh array each time
 * fixes it; imported by bus.ts and router.ts, before any decoding.
 *
 * Written for rhea 3.0.5, which package.json pins: a rhea whose decoder no
 * longer looks like this fails at import, loudly, rather than silently
 * decoding lists wrong (test/lib/bus/parts.test.ts checks the decoding).
 */
import rhea from 'rhea';

interface TypeDesc {
  typecode: number;
  create: (() => unknown) & { typecode?: number };
}

const types = (rhea as unknown as { types: { by_code: Record<number, TypeDesc>; List0: unknown } })
  .types;
const list0 = types.by_code[0x45];
if (!list0 || typeof list0.create !== 'function')
  throw new Error(
    'rhea has no list0 type to patch (lib/bus/rhea-list0.ts was written for rhea 3.0.5)',
  );
if (!(list0.create as { fresh?: boolean }).fresh) {
  const Typed = (list0.create() as { constructor: new (t: TypeDesc, v: unknown) => unknown })
    .constructor;
  const create = Object.assign(() => new Typed(list0, []), { typecode: 0x45, fresh: true });
  list0.create = create;
  types.List0 = create;
}

export {};
