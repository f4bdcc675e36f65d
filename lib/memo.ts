/**
 * `compute`, once per key object, its result kept while the key lives (a
 * WeakMap): a config's indexes and placement rules, a pass's over-capacity
 * reading. The lookup is all a later call costs: no closure context is made
 * per call, as one around `compute`'s own closures would be.
 */
export function memoized<K extends object, V>(compute: (key: K) => V): (key: K) => V {
  const known = new WeakMap<K, V>();
  return (key) => {
    let value = known.get(key);
    if (value === undefined) known.set(key, (value = compute(key)));
    return value;
  };
}
