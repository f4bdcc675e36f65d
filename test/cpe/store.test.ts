/**
 * The deployable store's contract, held against both backends: nedb (one
 * host) and a real etcd (a cluster). A write names the record it replaces;
 * a second writer that read the same record fails with STORE_CONFLICT.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { etcdClient } from '../../cpe/cluster.js';
import { EtcdStore } from '../../cpe/etcd-store.js';
import {
  hashConfig,
  NedbStore,
  type DeployableRecord,
  type DeployableStore,
} from '../../cpe/store.js';
import { CpeError } from '../../lib/errors.js';
import { silentLogger } from '../../lib/log.js';
import { EtcdCluster, requireEtcd } from '../support/etcd.js';

function record(name: string, generation = 1, config = `<c${generation}/>`): DeployableRecord {
  return {
    name,
    uuid: `uuid-${name}`,
    config,
    configHash: hashConfig(config),
    desired: 'running',
    generation,
    createdAt: 1,
    updatedAt: generation,
  };
}

async function conflict(p: Promise<unknown>): Promise<void> {
  await assert.rejects(
    p,
    (err: unknown) => err instanceof CpeError && err.code === 'STORE_CONFLICT',
  );
}

interface Backend {
  /** Two stores on the same data, as two CPEs would have. */
  open(): Promise<[DeployableStore, DeployableStore]>;
  close(): Promise<void>;
}

function contract(
  name: string,
  backend: () => Backend,
  before?: (ctx: Mocha.Context) => void,
): void {
  describe(`the deployable store: ${name}`, function () {
    this.timeout(60_000);
    let b: Backend;
    let one: DeployableStore;
    let two: DeployableStore;

    beforeEach(async function () {
      before?.(this);
      b = backend();
      [one, two] = await b.open();
    });
    afterEach(async () => {
      one?.close();
      two?.close();
      await b?.close();
    });

    it('stores, lists by name and removes', async () => {
      await one.put(record('b'), null);
      await one.put(record('a'), null);
      assert.deepEqual(
        (await two.list()).map((r) => r.name),
        ['a', 'b'],
      );
      assert.deepEqual(await two.get('a'), record('a'));
      await two.remove((await two.get('a'))!);
      assert.equal(await one.get('a'), null);
    });

    it('creates a name once: the second creator conflicts', async () => {
      await one.put(record('x'), null);
      await conflict(two.put(record('x'), null));
    });

    it('a change from a stale read conflicts; read again, it goes through', async () => {
      await one.put(record('x'), null);
      const seenByOne = (await one.get('x'))!;
      const seenByTwo = (await two.get('x'))!;
      await one.put(record('x', 2), seenByOne);
      await conflict(two.put(record('x', 2, '<other/>'), seenByTwo));
      await conflict(two.remove(seenByTwo));
      const fresh = (await two.get('x'))!;
      assert.equal(fresh.generation, 2);
      await two.put(record('x', 3), fresh);
      assert.equal((await one.get('x'))!.generation, 3);
    });

    it('a removed record cannot be changed from an old read', async () => {
      await one.put(record('x'), null);
      const seen = (await two.get('x'))!;
      await one.remove((await one.get('x'))!);
      await conflict(two.put(record('x', 2), seen));
    });
  });
}

contract('nedb', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cpe-store-'));
  let store: NedbStore | undefined;
  return {
    // One file has one writer (the state directory's lock): both are that one store.
    async open() {
      store = await NedbStore.open(dir, silentLogger());
      return [store, store];
    },
    close: () => Promise.resolve(),
  };
});

let etcd: EtcdCluster | undefined;
after(async () => etcd?.stop());

contract(
  'etcd',
  () => {
    let clients: ReturnType<typeof etcdClient>[] = [];
    const prefix = `/store-test-${Date.now()}-${Math.random()}/`;
    return {
      async open() {
        etcd ??= await EtcdCluster.start(1);
        clients = [0, 1].map(() => etcdClient(etcd!.endpoints));
        return [
          new EtcdStore(clients[0]!.namespace(prefix)),
          new EtcdStore(clients[1]!.namespace(prefix)),
        ];
      },
      close: () => {
        for (const c of clients) c.close();
        return Promise.resolve();
      },
    };
  },
  requireEtcd,
);

describe('the etcd store without etcd', function () {
  this.timeout(30_000);
  it('says what is wrong and what to check', async function () {
    requireEtcd(this);
    const client = etcdClient(['http://127.0.0.1:9']);
    try {
      await assert.rejects(
        new EtcdStore(client).list(),
        (err: unknown) =>
          err instanceof CpeError &&
          err.code === 'STORE_UNAVAILABLE' &&
          /is a majority of the etcd cluster up and reachable\?/.test(err.message),
      );
    } finally {
      client.close();
    }
  });
});
