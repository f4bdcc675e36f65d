/**
 * Saved PE inputs: every pass whose plan is not empty writes its input
 * (and the plan it gave) to the DPE's state directory, numbered, the oldest
 * removed past `keep`. `cpectl simulate DIR/pe-000042.json` replays one and
 * gives the same plan, byte for byte. The config is written once per
 * generation beside them and named by a relative path.
 */
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { PeInput, Plan } from '../pe/index.js';

const INPUT = /^pe-(\d{6,})\.json$/;

export class ReplayLog {
  #next: number;
  readonly #written = new Set<number>();
  #failed = false;

  constructor(
    readonly dir: string,
    private readonly keep: number,
    private readonly log: Logger,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    const numbers = this.#numbers();
    this.#next = (numbers.at(-1) ?? 0) + 1;
  }

  #numbers(): number[] {
    return readdirSync(this.dir)
      .map((f) => INPUT.exec(f)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** Writes the input and its plan; returns the input's file, or null when not kept. */
  save(input: PeInput, plan: Plan, configXml: string, generation: number): string | null {
    if (this.keep === 0) return null;
    try {
      const config = `config-${generation}.xml`;
      if (!this.#written.has(generation)) {
        this.#atomic(config, configXml);
        this.#written.add(generation);
      }
      const n = String(this.#next++).padStart(6, '0');
      const state: Record<string, unknown> = { ...input };
      delete state.config; // the compiled model: named by its XML file instead
      const file = `pe-${n}.json`;
      this.#atomic(`pe-${n}.plan.json`, `${JSON.stringify(plan, null, 2)}\n`);
      this.#atomic(file, `${JSON.stringify({ config, now: plan.now, ...state }, null, 2)}\n`);
      this.#prune();
      this.#failed = false;
      return join(this.dir, file);
    } catch (err) {
      if (!this.#failed)
        this.log.error('cannot save a PE input', { dir: this.dir, error: errorMessage(err) });
      this.#failed = true;
      return null;
    }
  }

  #atomic(name: string, text: string): void {
    const tmp = join(this.dir, `.${name}.tmp`);
    writeFileSync(tmp, text, { mode: 0o640 });
    renameSync(tmp, join(this.dir, name));
  }

  #prune(): void {
    const numbers = this.#numbers();
    for (const n of numbers.slice(0, Math.max(0, numbers.length - this.keep))) {
      const id = String(n).padStart(6, '0');
      rmSync(join(this.dir, `pe-${id}.json`), { force: true });
      rmSync(join(this.dir, `pe-${id}.plan.json`), { force: true });
    }
  }
}
