/**
 * The services an agent manages, kept across its restarts: a service is
 * written here before its first start runs (a crash mid-start leaves it
 * listed, so it is probed) and removed once a stop succeeds. An agent that
 * restarts lists them in its inventory with a fresh monitor result, so its
 * DPE knows what runs without anything being restarted.
 *
 * One small JSON file, replaced atomically (written, fsynced, renamed, the
 * directory fsynced): a power cut leaves the old list or the new, never a
 * torn one and never a service forgotten.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceSpec } from '../lib/agent/protocol.js';
import { CpeError, errorMessage } from '../lib/errors.js';
import { replaceFileDurably, unreadable } from '../lib/files.js';

export interface ManagedService {
  readonly spec: ServiceSpec;
  /** The last time limit the DPE gave its operations. */
  readonly timeoutMs: number;
}

const FILE = 'services.json';

export class ManagedServices {
  readonly #file: string;
  readonly #services = new Map<string, ManagedService>();

  /** Reads the list kept in `dir` (none yet is an empty list; an unreadable one is an error). */
  constructor(dir: string) {
    this.#file = join(dir, FILE);
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    let text: string;
    try {
      text = readFileSync(this.#file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw unreadable(this.#file, err, 'STATE_UNREADABLE');
    }
    try {
      const list = JSON.parse(text) as { services?: ManagedService[] };
      for (const m of list.services ?? []) this.#services.set(m.spec.resource, m);
    } catch (err) {
      throw new CpeError(
        'STATE_UNREADABLE',
        `${this.#file} is not the agent's list of services (${errorMessage(err)}); move it aside to start with none`,
      );
    }
  }

  get file(): string {
    return this.#file;
  }

  list(): ManagedService[] {
    return [...this.#services.values()];
  }

  get(resource: string): ManagedService | undefined {
    return this.#services.get(resource);
  }

  /** Records a service as managed here (a no-op when nothing changed). */
  add(spec: ServiceSpec, timeoutMs: number): void {
    const old = this.#services.get(spec.resource);
    if (old && old.timeoutMs === timeoutMs && JSON.stringify(old.spec) === JSON.stringify(spec))
      return;
    this.#services.set(spec.resource, { spec, timeoutMs });
    this.#save();
  }

  remove(resource: string): void {
    if (this.#services.delete(resource)) this.#save();
  }

  #save(): void {
    replaceFileDurably(this.#file, `${JSON.stringify({ services: this.list() }, null, 1)}\n`);
  }
}
