/**
 * The deployables of a CPE cluster, in etcd (README, "Running a cluster"):
 * one key per deployable under PREFIX/deployables/, its record as JSON.
 * Every write is a transaction that compares the key's revision with the one
 * read, so of two CPEs changing one deployable the second fails
 * (STORE_CONFLICT) and reads again; etcd answers a write once a majority of
 * its members have it on disk.
 */
import type { Etcd3, IKeyValue, Namespace } from 'etcd3';
import { CpeError, errorMessage } from '../lib/errors.js';
import { storeConflict, type DeployableRecord, type DeployableStore } from './store.js';

const DEPLOYABLES = 'deployables/';

export class EtcdStore implements DeployableStore {
  readonly #ns: Namespace;
  /** The etcd revision each record was read at: what a write compares with. */
  readonly #revisions = new WeakMap<DeployableRecord, string>();

  constructor(etcd: Etcd3 | Namespace) {
    this.#ns = etcd.namespace(DEPLOYABLES);
  }

  async get(name: string): Promise<DeployableRecord | null> {
    const res = await this.#call('read', () => this.#ns.get(name).exec());
    const kv = res.kvs[0];
    return kv ? this.#record(kv) : null;
  }

  async list(): Promise<DeployableRecord[]> {
    const res = await this.#call('read', () => this.#ns.getAll().sort('Key', 'Ascend').exec());
    return res.kvs.map((kv) => this.#record(kv));
  }

  async put(record: DeployableRecord, previous: DeployableRecord | null): Promise<void> {
    const value = JSON.stringify(record);
    const res = await this.#call('write', async () =>
      this.#ns
        .if(record.name, ...(await this.#unchanged(record.name, previous)))
        .then(this.#ns.put(record.name).value(value))
        .commit(),
    );
    if (!res.succeeded) throw storeConflict(record.name);
  }

  async remove(previous: DeployableRecord): Promise<void> {
    const res = await this.#call('write', async () =>
      this.#ns
        .if(previous.name, ...(await this.#unchanged(previous.name, previous)))
        .then(this.#ns.delete().key(previous.name))
        .commit(),
    );
    if (!res.succeeded) throw storeConflict(previous.name);
  }

  /** Names whose record changed, as etcd tells of it (any CPE's writes); returns a stop. */
  async watch(listener: (name: string) => void): Promise<() => Promise<void>> {
    const watcher = await this.#ns.watch().prefix('').create();
    const tell = (kv: IKeyValue): void => listener(kv.key.toString());
    watcher.on('put', tell).on('delete', tell);
    return () => watcher.cancel();
  }

  close(): void {}

  /** The comparison that holds while `previous` is stored: absent, or the revision read. */
  async #unchanged(
    name: string,
    previous: DeployableRecord | null,
  ): Promise<['Create' | 'Mod', '==', string | number]> {
    if (previous === null) return ['Create', '==', 0];
    let revision = this.#revisions.get(previous);
    if (revision === undefined) {
      // Not read here (a caller's copy): the stored one must be that very record.
      const stored = await this.get(name);
      if (stored === null || stored.generation !== previous.generation) throw storeConflict(name);
      revision = this.#revisions.get(stored)!;
    }
    return ['Mod', '==', revision];
  }

  #record(kv: IKeyValue): DeployableRecord {
    let record: DeployableRecord;
    try {
      record = JSON.parse(kv.value.toString()) as DeployableRecord;
    } catch (err) {
      throw new CpeError(
        'STORE_CORRUPT',
        `etcd key ${DEPLOYABLES}${kv.key.toString()} is not a deployable record (${errorMessage(err)})`,
      );
    }
    this.#revisions.set(record, kv.mod_revision);
    return record;
  }

  async #call<T>(what: 'read' | 'write', op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (err instanceof CpeError) throw err;
      throw new CpeError(
        'STORE_UNAVAILABLE',
        `cannot ${what} the deployables in etcd (${errorMessage(err)}): is a majority of the etcd cluster up and reachable?`,
        { cause: err },
      );
    }
  }
}
