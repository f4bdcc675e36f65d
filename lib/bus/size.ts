/**
 * An upper-bound estimate of a decoded message's encoded size, walking at
 * most until `limit` is passed. rhea hands over decoded messages only; this
 * keeps the size check cheap without re-encoding.
 */
export function exceedsSize(value: unknown, limit: number): boolean {
  let total = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') total += 5 + Buffer.byteLength(v);
    else if (Buffer.isBuffer(v)) total += 5 + v.length;
    else if (Array.isArray(v)) {
      total += 9;
      for (const item of v) stack.push(item);
    } else if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
      total += 9;
      for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
        total += 5 + Buffer.byteLength(k);
        stack.push(item);
      }
    } else total += 9;
    if (total > limit) return true;
  }
  return false;
}
