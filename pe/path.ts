/**
 * The only path syntax rules may use: `$`, `.name` and `[index]` steps
 * (checked when the config is compiled). Walks own properties only, so no
 * path can reach a prototype, and nothing is evaluated.
 */
const STEP = /\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]/y;

/** The steps of a path, or null if it is not of the allowed form. */
export function parsePath(path: string): (string | number)[] | null {
  const steps: (string | number)[] = [];
  const step = new RegExp(STEP);
  step.lastIndex = path.startsWith('$') ? 1 : 0;
  while (step.lastIndex < path.length) {
    const m = step.exec(path);
    if (!m) return null;
    steps.push(m[1] ?? Number(m[2]));
  }
  return steps;
}

export function resolveSteps(value: unknown, steps: readonly (string | number)[]): unknown {
  let current = value;
  for (const key of steps) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, key))
      return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

export function resolvePath(value: unknown, path: string): unknown {
  const steps = parsePath(path);
  return steps === null ? undefined : resolveSteps(value, steps);
}
