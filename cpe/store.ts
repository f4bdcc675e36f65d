/**
 * The CPE's deployables — config, desired state, generation — in nedb
 * (nedb-promises) under the state directory. Small, bounded data: one record
 * per deployable. nedb appends each change to its file, which survives a
 * kill -9 at any point (a half-written last line is dropped on load: that
 * call never answered; any other line that does not read stops the CPE); we also fsync the file before a call answers, so
 * an answered change survives a power cut too. Compacted at start and hourly.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, truncateSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import Datastore from 'nedb-promises';
import { CpeError, errorMessage } from '../lib/errors.js';
import { fileMessage } from '../lib/files.js';
import type { Logger } from '../lib/log.js';

export type DesiredState = 'running' | 'stopped';

export interface DeployableRecord {
  readonly name: string;
  readonly uuid: string;
  /** The config XML exactly as received. */
  readonly config: string;
  readonly configHash: string;
  readonly desired: DesiredState;
  /** Counts up with every change of config or desired state. */
  readonly generation: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/**
 * Where the CPE keeps its deployables: nedb on one host (NedbStore), etcd in
 * a cluster (EtcdStore). Every write names the record it replaces, so two
 * writers (two CPEs) never overwrite each other: the second one fails with
 * STORE_CONFLICT and its caller reads again.
 */
export interface DeployableStore {
  get(name: string): Promise<DeployableRecord | null>;
  /** Every record, by name. */
  list(): Promise<DeployableRecord[]>;
  /** Writes `record` if `previous` (as read; null: none) is still what is stored; durable when it resolves. */
  put(record: DeployableRecord, previous: DeployableRecord | null): Promise<void>;
  /** Removes `previous` if it is still what is stored. */
  remove(previous: DeployableRecord): Promise<void>;
  close(): void;
}

export const STORE_CONFLICT = 'STORE_CONFLICT';

export function storeConflict(name: string): CpeError {
  return new CpeError(
    STORE_CONFLICT,
    `deployable "${name}" was changed by another CPE meanwhile: read it again`,
  );
}

/** Whether `stored` is the record a writer read as `previous` (generations count every change). */
export function sameRecord(
  stored: DeployableRecord | null,
  previous: DeployableRecord | null,
): boolean {
  return stored === null || previous === null
    ? stored === previous
    : stored.generation === previous.generation && stored.configHash === previous.configHash;
}

export function hashConfig(xml: string): string {
  return createHash('sha256').update(xml).digest('hex');
}

const COMPACT_EVERY_MS = 60 * 60 * 1000;

export class NedbStore implements DeployableStore {
  readonly #db: Datastore<DeployableRecord>;
  readonly #file: string;

  private constructor(db: Datastore<DeployableRecord>, file: string) {
    this.#db = db;
    this.#file = file;
  }

  static async open(stateDir: string, log: Logger): Promise<NedbStore> {
    mkdirSync(stateDir, { recursive: true, mode: 0o750 });
    const file = join(stateDir, 'deployables.db');
    checkStoreFile(file, log);
    // Nothing corrupt is tolerated: a dropped record would have its DPE stopped at the next resync.
    const db = Datastore.create({ filename: file, autoload: false, corruptAlertThreshold: 0 });
    try {
      await db.load();
    } catch (err) {
      throw new CpeError('STORE_UNREADABLE', `cannot load ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    await db.ensureIndex({ fieldName: 'name', unique: true });
    // Loading compacted the file already; keep it compact while we run.
    nedbOf(db).setAutocompactionInterval(COMPACT_EVERY_MS);
    log.debug('store loaded', { file, deployables: await db.count({}) });
    return new NedbStore(db, file);
  }

  async get(name: string): Promise<DeployableRecord | null> {
    return strip(await this.#db.findOne({ name }));
  }

  async list(): Promise<DeployableRecord[]> {
    const all = await this.#db.find({}).sort({ name: 1 });
    return all.map((r) => strip(r)!);
  }

  // One process writes this file (the state directory's lock), and the API
  // changes one name at a time: nothing comes between the check and the write.
  async put(record: DeployableRecord, previous: DeployableRecord | null): Promise<void> {
    if (!sameRecord(await this.get(record.name), previous)) throw storeConflict(record.name);
    await this.#db.update({ name: record.name }, { ...record }, { upsert: true });
    await this.#sync();
  }

  async remove(previous: DeployableRecord): Promise<void> {
    if (!sameRecord(await this.get(previous.name), previous)) throw storeConflict(previous.name);
    await this.#db.remove({ name: previous.name }, { multi: false });
    await this.#sync();
  }

  close(): void {
    nedbOf(this.#db).stopAutocompaction();
  }

  async #sync(): Promise<void> {
    const handle = await open(this.#file, 'r');
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }
}

/**
 * Reads the store's file line by line before nedb does, so that a corrupt
 * record stops the CPE with the file and the line, instead of being dropped
 * (nedb's tolerance) and its deployable's DPE stopped. Only a last line
 * without its newline is let go: a write torn by a crash, which never
 * answered (every answered change was fsynced whole).
 */
export function checkStoreFile(file: string, log: Logger): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new CpeError('STORE_UNREADABLE', fileMessage(file, err), { cause: err });
  }
  const lines = text.split('\n');
  const torn = !text.endsWith('\n') ? lines.length : 0;
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    try {
      const doc = JSON.parse(line) as unknown;
      if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
        throw new Error('not an object');
    } catch (err) {
      if (i + 1 === torn) {
        log.warn('store: dropping a last line torn by a crash (that change was never answered)', {
          file,
          line: i + 1,
        });
        // Cut it off: nedb, told to tolerate nothing, would refuse the file for it.
        truncateSync(file, Buffer.byteLength(text) - Buffer.byteLength(line));
        continue;
      }
      throw new CpeError(
        'STORE_CORRUPT',
        `${file}:${i + 1}: not a record (${errorMessage(err)}); the CPE stops rather than forget a deployable: repair or remove that line, or restore the file from a backup`,
      );
    }
  }
}

/**
 * nedb itself, behind nedb-promises' proxy. Its timers must be set and
 * stopped there: through the proxy, nedb's own `this._autocompactionIntervalId
 * = null` hits the proxy's set trap, which returns the value assigned — null,
 * which strict mode takes for a refusal and throws (a SIGTERM then exited 1).
 */
function nedbOf(db: Datastore<DeployableRecord>): {
  setAutocompactionInterval(ms: number): void;
  stopAutocompaction(): void;
} {
  return (db as unknown as { __original: ReturnType<typeof nedbOf> }).__original;
}

function strip(doc: (DeployableRecord & { _id?: string }) | null): DeployableRecord | null {
  if (!doc) return null;
  const record: DeployableRecord & { _id?: string } = { ...doc };
  delete record._id;
  return record;
}
