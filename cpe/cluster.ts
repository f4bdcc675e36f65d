/**
 * This CPE as a member of a cluster on etcd (README, "Running a cluster").
 * It holds a lease; its member key (PREFIX/members/NAME) and the owner key
 * of each deployable it runs (PREFIX/owners/DEPLOYABLE = NAME) live on that
 * lease, so they vanish when it dies. Each deployable belongs to the live
 * member chosen by rendezvous hashing; that member claims it once its owner
 * key is free, and an owner that is no longer the choice stops the DPE and
 * frees the key. When the lease may have expired (LeaseDeadline) every DPE
 * here is stopped first: a partitioned CPE never runs a DPE beside the new
 * owner's.
 */
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { circuitBreaker, ConsecutiveBreaker, handleWhen, noop } from 'cockatiel';
import {
  Etcd3,
  isRecoverableError,
  type IDuplexStream,
  type IKeyValue,
  type ILeaseKeepAliveRequest,
  type ILeaseKeepAliveResponse,
  type Namespace,
  type Watcher,
} from 'etcd3';
import type { QmfMap } from '../lib/bus/qmf.js';
import { CpeError, errorMessage } from '../lib/errors.js';
import { replaceFileDurably } from '../lib/files.js';
import type { Logger } from '../lib/log.js';
import {
  fenceMarginMs,
  LeaseDeadline,
  preferredMember,
  quorumImpossible,
  type MemberProbe,
} from './ownership.js';

export interface ClusterOptions {
  /** Every member of the etcd cluster (http://HOST:PORT). */
  readonly endpoints: readonly string[];
  /** This cluster's keys in etcd. */
  readonly prefix: string;
  /** This CPE's name among the members: unique. */
  readonly member: string;
  readonly ttlSeconds: number;
  /** Where the last lease's id is kept, to take its keys over after a crash. */
  readonly stateDir: string;
  /** What the member key says of this CPE (host, pid, …). */
  readonly about: Readonly<Record<string, string | number>>;
  readonly log: Logger;
}

/** run: this CPE owns it and runs its DPE; release: stop the DPE, then free it; none: no DPE here. */
export type Decision = 'run' | 'release' | 'none';

/** How this CPE sees etcd: ok; no-quorum (no leader can exist, so nothing expires); unreachable. */
export type EtcdView = 'ok' | 'no-quorum' | 'unreachable';

const MEMBERS = 'members/';
const OWNERS = 'owners/';
const TICK_MS = 250;
const PROBE_MS = 500;
/** The members and owners are read whole this often, beside the watch. */
const REREAD_MS = 10_000;
/** A keepalive unanswered this long: its stream is replaced, perhaps through another member. */
const RESEND_MS = 1000;

/**
 * An etcd client: calls time out, so that a lost etcd is told rather than
 * waited for, and a member that failed is tried again after half a second
 * (etcd3's default, 5 s, outlasts a short lease once the quorum is back).
 */
export function etcdClient(endpoints: readonly string[], retry = true): Etcd3 {
  return new Etcd3({
    hosts: [...endpoints],
    dialTimeout: 2000,
    // A member back from a restart is tried again within a second.
    grpcOptions: {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
    },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 3000 }),
    faultHandling: retry
      ? {
          host: () =>
            circuitBreaker(handleWhen(isRecoverableError), {
              halfOpenAfter: 500,
              breaker: new ConsecutiveBreaker(3),
            }),
        }
      : { host: () => noop, global: noop },
  });
}

interface Owner {
  readonly member: string;
  readonly lease: string;
}

export class Cluster {
  readonly member: string;
  readonly ttlMs: number;
  readonly #o: ClusterOptions;
  readonly #etcd: Etcd3;
  readonly #ns: Namespace;
  readonly #members = new Map<string, string>();
  readonly #owners = new Map<string, Owner>();
  readonly #changes: ((names: readonly string[] | 'all') => void)[] = [];
  #onFence: () => Promise<void> = async () => {};
  #watchers: Watcher[] = [];
  readonly #rereads: (() => Promise<string>)[] = [];
  #rereadAt = 0;
  #stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> | undefined;
  #lastFired = 0;
  #leaseId: string | undefined;
  #deadline: LeaseDeadline | undefined;
  #fenced = false;
  #view: EtcdView = 'ok';
  readonly #running = new Set<string>();
  #tick: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(o: ClusterOptions, etcd: Etcd3) {
    this.#o = o;
    this.member = o.member;
    this.ttlMs = o.ttlSeconds * 1000;
    this.#etcd = etcd;
    this.#ns = etcd.namespace(o.prefix);
  }

  /** Joins: reads members and owners, watches them, takes a lease and registers. */
  static async join(o: ClusterOptions, etcd = etcdClient(o.endpoints)): Promise<Cluster> {
    const c = new Cluster(o, etcd);
    try {
      // Only a change is told: the whole map is read again now and then.
      await c.#watch(MEMBERS, c.#members, (name, kv) => {
        if (c.#members.get(name) === (kv?.lease ?? undefined)) return;
        if (kv) c.#members.set(name, kv.lease);
        else c.#members.delete(name);
        c.#tell('all');
      });
      await c.#watch(OWNERS, c.#owners, (name, kv) => {
        const was = c.#owners.get(name);
        const member = kv?.value.toString();
        if (was?.member === member && was?.lease === kv?.lease) return;
        if (kv) c.#owners.set(name, { member: member!, lease: kv.lease });
        else c.#owners.delete(name);
        c.#tell([name]);
      });
      await c.#register();
    } catch (err) {
      await c.close();
      if (err instanceof CpeError) throw err;
      throw new CpeError(
        'ETCD_UNAVAILABLE',
        `cannot join the cluster through etcd at ${o.endpoints.join(', ')} (${errorMessage(err)}): is a majority of its members up and reachable?`,
        { cause: err },
      );
    }
    c.#tick = setInterval(() => c.#check(), TICK_MS);
    c.#tick.unref();
    return c;
  }

  /** The store's client, in this cluster's prefix. */
  get namespace(): Namespace {
    return this.#ns;
  }

  /** Called with the names to look at again ('all': membership changed). */
  onChange(listener: (names: readonly string[] | 'all') => void): void {
    this.#changes.push(listener);
  }

  /** Stops every DPE here; resolves once they are gone. */
  onFence(fence: () => Promise<void>): void {
    this.#onFence = fence;
  }

  /** The member that runs `name`, or null. */
  ownerOf(name: string): string | null {
    return this.#owners.get(name)?.member ?? null;
  }

  /**
   * Whether this CPE carries out a call every member received: one about a
   * deployable is its owner's (else the member it belongs to); any other
   * goes to the member its key hashes to.
   */
  handles(name: string | undefined, key: string): boolean {
    if (name === undefined)
      return preferredMember(`call\0${key}`, this.#members.keys()) === this.member;
    const owner = this.#owners.get(name)?.member;
    return (owner ?? preferredMember(name, this.#members.keys())) === this.member;
  }

  /** Whether this CPE holds `name` on its current lease. */
  owns(name: string): boolean {
    const owner = this.#owners.get(name);
    return !this.#fenced && owner?.member === this.member && owner.lease === this.#leaseId;
  }

  /**
   * What this CPE does with `name` now; claims it when it should run it and
   * nobody holds it. `exists`: the deployable is stored.
   */
  async decide(name: string, exists: boolean): Promise<Decision> {
    if (this.#fenced || this.#leaseId === undefined) return 'none';
    const preferred = exists && preferredMember(name, this.#members.keys()) === this.member;
    if (this.owns(name)) return preferred ? 'run' : 'release';
    if (!preferred || this.#owners.has(name)) return 'none';
    const lease = this.#leaseId;
    const res = await this.#ns
      .if(OWNERS + name, 'Create', '==', 0)
      .then(
        this.#ns
          .put(OWNERS + name)
          .value(this.member)
          .lease(lease),
      )
      .commit();
    if (!res.succeeded) return 'none';
    this.#owners.set(name, { member: this.member, lease });
    this.#o.log.info('deployable claimed', { deployable: name });
    return this.owns(name) ? 'run' : 'none';
  }

  /** Frees `name` once its DPE here is stopped: the member it belongs to claims it. */
  async release(name: string): Promise<void> {
    if (!this.owns(name)) return;
    await this.#ns
      .if(OWNERS + name, 'Value', '==', this.member)
      .then(this.#ns.delete().key(OWNERS + name))
      .commit();
    this.#owners.delete(name);
    this.#o.log.info('deployable handed over', {
      deployable: name,
      to: preferredMember(name, this.#members.keys()) ?? null,
    });
  }

  status(): QmfMap {
    return {
      member: this.member,
      members: [...this.#members.keys()].sort(),
      etcd: this.#view,
      fenced: this.#fenced,
      owned: [...this.#owners.values()].filter((o) => o.member === this.member).length,
      lease_ttl_ms: this.ttlMs,
      fence_in_ms:
        this.#fenced || !this.#deadline
          ? null
          : Math.max(0, Math.round(this.#deadline.deadline - performance.now())),
    };
  }

  /** Leaves the cluster (its DPEs stopped first): its deployables move at once. */
  async leave(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#tick);
    this.#closeStream();
    const id = this.#leaseId;
    this.#leaseId = undefined;
    if (id !== undefined) await this.#revoke(id);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#tick);
    this.#closeStream();
    await Promise.all(this.#watchers.map((w) => w.cancel().catch(() => undefined)));
    this.#etcd.close();
  }

  #tell(names: readonly string[] | 'all'): void {
    for (const l of this.#changes) l(names);
  }

  /**
   * Keeps a map of `prefix` current: read whole, then watched. Read whole
   * again after the watch reconnects and every REREAD_MS, since a map that
   * missed an event would misplace a deployable for good.
   */
  async #watch(
    prefix: string,
    map: Map<string, unknown>,
    apply: (name: string, kv: IKeyValue | null) => void,
  ): Promise<void> {
    const reread = async (): Promise<string> => {
      const now = await this.#ns.getAll().prefix(prefix).exec();
      const names = new Set<string>();
      for (const kv of now.kvs) {
        const name = kv.key.toString().slice(prefix.length);
        names.add(name);
        apply(name, kv);
      }
      for (const name of [...map.keys()]) if (!names.has(name)) apply(name, null);
      return String(BigInt(now.header.revision) + 1n);
    };
    const from = await reread();
    const watcher = await this.#ns.watch().prefix(prefix).startRevision(from).create();
    let lost = false;
    watcher
      .on('put', (kv) => apply(kv.key.toString().slice(prefix.length), kv))
      .on('delete', (kv) => apply(kv.key.toString().slice(prefix.length), null))
      .on('disconnected', () => (lost = true))
      .on('connected', () => {
        if (!lost) return;
        lost = false;
        void reread().catch(() => undefined);
      });
    this.#watchers.push(watcher);
    this.#rereads.push(reread);
  }

  get #leaseFile(): string {
    return join(this.#o.stateDir, 'cluster-lease');
  }

  /**
   * Takes a lease and the member key. A key left by this CPE's previous lease
   * (a crash, or a fence) is moved to the new one with every deployable it
   * owned; a key of another live CPE of this name is an error.
   */
  async #register(): Promise<void> {
    const sentAt = performance.now();
    const { ID: id } = await this.#ns.leaseClient.leaseGrant({ TTL: this.#o.ttlSeconds, ID: 0 });
    const previous = this.#previousLease();
    const key = MEMBERS + this.member;
    const put = this.#ns.put(key).value(JSON.stringify(this.#o.about)).lease(id);
    let res = await this.#ns.if(key, 'Create', '==', 0).then(put).commit();
    if (!res.succeeded && previous !== undefined && previous !== id) {
      await this.#adopt(previous, id);
      res = await this.#ns.if(key, 'Lease', '==', previous).then(put).commit();
      if (res.succeeded) await this.#revoke(previous);
    }
    if (!res.succeeded) {
      await this.#revoke(id);
      throw new CpeError(
        'CLUSTER_NAME_TAKEN',
        `another live CPE is a member under the name "${this.member}" (cluster.name): give each CPE a name of its own`,
      );
    }
    replaceFileDurably(this.#leaseFile, `${id}\n`, 0o600);
    this.#closeStream();
    this.#leaseId = id;
    this.#deadline = new LeaseDeadline(this.ttlMs, fenceMarginMs(this.#o.ttlSeconds), sentAt);
    this.#lastFired = sentAt;
    this.#members.set(this.member, id);
    this.#fenced = false;
    this.#view = 'ok';
    this.#o.log.info('cluster member', {
      member: this.member,
      lease: id,
      ttl_s: this.#o.ttlSeconds,
    });
    this.#tell('all');
  }

  /** Best effort, and bounded: a CPE cut off from etcd must still stop. */
  async #revoke(id: string): Promise<void> {
    await this.#ns.leaseClient
      .leaseRevoke({ ID: id }, { deadline: Date.now() + 2000 })
      .catch(() => undefined);
  }

  /**
   * One keepalive every third of the TTL, on a stream of our own: etcd's
   * answer is the only word on whether the lease lives (TTL 0: it is gone).
   * A stream that stops answering is replaced, perhaps through another member.
   */
  async #keepAlive(now: number, deadline: LeaseDeadline, id: string): Promise<void> {
    const since = now - this.#lastFired;
    const unanswered = deadline.pending > 0 && since >= RESEND_MS;
    if (this.#stream && since < this.ttlMs / 3 && !unanswered) return;
    if (unanswered) this.#closeStream();
    if (!this.#stream) {
      deadline.restarted();
      const stream = await this.#ns.leaseClient.leaseKeepAlive();
      this.#stream = stream;
      const gone = (): void => {
        if (this.#stream === stream) this.#stream = undefined;
      };
      stream
        .on('data', (res: { ID: string; TTL: string }) => {
          if (this.#stream !== stream || res.ID !== this.#leaseId) return;
          if (res.TTL === '0') {
            this.#o.log.error('etcd says the lease is gone (expired or revoked)', { lease: id });
            void this.#fence('the lease is gone');
            return;
          }
          deadline.succeeded();
          this.#view = 'ok';
        })
        .on('error', gone)
        .on('end', gone);
    }
    this.#lastFired = performance.now();
    deadline.fired(this.#lastFired);
    this.#stream.write({ ID: id });
  }

  #closeStream(): void {
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.end();
  }

  /** Moves the owner keys of this CPE's previous lease onto `id`: its DPEs keep running. */
  async #adopt(previous: string, id: string): Promise<void> {
    for (const [name, owner] of this.#owners) {
      if (owner.member !== this.member || owner.lease !== previous) continue;
      const key = OWNERS + name;
      await this.#ns
        .if(key, 'Lease', '==', previous)
        .and(key, 'Value', '==', this.member)
        .then(this.#ns.put(key).value(this.member).lease(id))
        .commit();
    }
  }

  #previousLease(): string | undefined {
    try {
      return readFileSync(this.#leaseFile, 'utf8').trim() || undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Every tick: the fence first, which nothing may hold up; then, each on its
   * own, the keepalive, a check of etcd while keepalives lag (or the quorum
   * is lost), and rejoining once fenced.
   */
  #check(): void {
    if (this.#closed) return;
    const now = performance.now();
    const deadline = this.#deadline;
    const id = this.#leaseId;
    if (this.#fenced || !deadline || id === undefined) {
      this.#once('register', () => this.#register());
      return;
    }
    if (now >= deadline.deadline) {
      void this.#fence(`no keepalive for ${Math.round(deadline.sinceSafe(now))} ms`);
      return;
    }
    this.#once('keepalive', () => this.#keepAlive(now, deadline, id));
    if (now - this.#rereadAt > REREAD_MS) {
      this.#rereadAt = now;
      this.#once('reread', async () => {
        for (const r of this.#rereads) await r();
      });
    }
    // While the quorum is lost, check on every tick, not only once keepalives
    // lag: each check that finds no leader possible renews, so when the
    // members come back nearly the whole TTL is left for them to elect a
    // leader that answers (a stale check left as little as TTL×2/3 − margin).
    if (deadline.sinceSafe(now) > this.ttlMs / 3 || this.#view === 'no-quorum')
      this.#once('probe', () => this.#probe(deadline));
  }

  /** Runs `work` unless the last one of its kind still runs; its failure is the next tick's to retry. */
  #once(kind: string, work: () => Promise<void>): void {
    if (this.#running.has(kind)) return;
    this.#running.add(kind);
    void work()
      .catch(() => {
        if (kind === 'keepalive') this.#closeStream();
      })
      .finally(() => this.#running.delete(kind));
  }

  async #fence(why: string): Promise<void> {
    if (this.#fenced) return;
    this.#fenced = true;
    this.#closeStream();
    this.#o.log.error(
      'etcd cannot confirm the lease: stopping every DPE here before it can expire',
      {
        reason: why,
        etcd: this.#view,
      },
    );
    this.#tell('all');
    await this.#onFence();
  }

  /** Asks every etcd member whether a leader can exist; none can: the lease cannot expire. */
  async #probe(deadline: LeaseDeadline): Promise<void> {
    const startedAt = performance.now();
    const probes = await Promise.all(this.#o.endpoints.map((e) => this.#probeOne(e, deadline)));
    if (quorumImpossible(probes, this.#o.endpoints.length)) {
      deadline.noLeaderPossible(startedAt);
      if (this.#view !== 'no-quorum')
        this.#o.log.warn('etcd has lost its quorum: DPEs keep running, ownership is frozen', {
          members: probes.join(','),
        });
      this.#view = 'no-quorum';
    } else if (probes.every((p) => p === 'unknown')) {
      this.#view = 'unreachable';
    }
  }

  /** One keepalive through `client`'s member; an answer counts from when it was sent. */
  async #renewThrough(client: Etcd3, deadline: LeaseDeadline): Promise<void> {
    const id = this.#leaseId;
    if (id === undefined) return;
    const stream = await client.leaseClient.leaseKeepAlive();
    const sentAt = performance.now();
    try {
      const ttl = await new Promise<string | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), 2 * PROBE_MS);
        stream
          .on('data', (res: { TTL: string }) => {
            clearTimeout(timer);
            resolve(res.TTL);
          })
          .on('error', () => resolve(null));
        stream.write({ ID: id });
      });
      if (ttl === '0') void this.#fence('etcd says the lease is gone');
      else if (ttl !== null && this.#leaseId === id) {
        deadline.renewedAt(sentAt);
        this.#view = 'ok';
      }
    } finally {
      stream.end();
    }
  }

  async #probeOne(endpoint: string, deadline: LeaseDeadline): Promise<MemberProbe> {
    const url = URL.parse(endpoint);
    if (!url) return 'unknown';
    const refused = await new Promise<boolean | null>((resolve) => {
      const socket = connect({
        host: url.hostname.replace(/^\[|\]$/g, ''),
        port: Number(url.port || 2379),
      });
      socket.setTimeout(PROBE_MS, () => {
        socket.destroy();
        resolve(null);
      });
      socket.on('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.on('error', (err: NodeJS.ErrnoException) =>
        resolve(err.code === 'ECONNREFUSED' ? true : null),
      );
    });
    if (refused === true) return 'down';
    if (refused === null) return 'unknown';
    // A client of its own each time: a channel kept from before would be in
    // gRPC's reconnect backoff after its member restarted.
    const client = etcdClient([endpoint], false);
    try {
      const status = await client.maintenance.status({ deadline: Date.now() + PROBE_MS });
      if (status.leader === '0' || !status.leader) return 'leaderless';
      // It has a leader: renew through this very member, whatever member the
      // pool's stream went to (one restarting does not serve it yet).
      await this.#renewThrough(client, deadline);
      return 'led';
    } catch {
      return 'unknown';
    } finally {
      client.close();
    }
  }
}
