/**
 * The pure parts of a CPE cluster's ownership (README, "Running a cluster"):
 * who should run a deployable, when this CPE must stop its DPEs because its
 * lease may have run out, and when no lease can run out at all.
 */
import { createHash } from 'node:crypto';

/** The DPEs are stopped this long before the lease could expire. */
export function fenceMarginMs(ttlSeconds: number): number {
  return Math.max(1500, (ttlSeconds * 1000) / 5);
}

/**
 * The live member that should own `name`: rendezvous hashing (highest
 * random weight). Each member's share is even, and when one joins or leaves
 * only the deployables it gains or held move.
 */
export function preferredMember(name: string, members: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestWeight = -1n;
  for (const m of members) {
    const w = createHash('sha256').update(m).update('\0').update(name).digest().readBigUInt64BE();
    if (w > bestWeight || (w === bestWeight && best !== undefined && m < best)) {
      best = m;
      bestWeight = w;
    }
  }
  return best;
}

/**
 * When this CPE's lease may have expired in etcd, on the monotonic clock.
 * etcd counts a lease's TTL from a keepalive it received, which is later
 * than when we sent it: so the lease lives at least until "sent + TTL", and
 * the DPEs must be stopped `margin` before that. A keepalive counts from when
 * it was sent; replies on one stream come in order.
 *
 * A lease expires only while etcd has a leader, and a newly elected leader
 * gives every lease its whole TTL again (etcd's lessor, Promote). So a check
 * that found no leader possible (quorumImpossible) counts like a keepalive
 * sent when the check began.
 */
export class LeaseDeadline {
  readonly #ttlMs: number;
  readonly #marginMs: number;
  #safe: number;
  #pending: number[] = [];

  constructor(ttlMs: number, marginMs: number, grantSentAt: number) {
    this.#ttlMs = ttlMs;
    this.#marginMs = marginMs;
    this.#safe = grantSentAt;
  }

  fired(at: number): void {
    this.#pending.push(at);
  }

  /** A new keepalive stream: replies to what was sent on the old one never come. */
  restarted(): void {
    this.#pending = [];
  }

  /** Keepalives sent and not yet answered. */
  get pending(): number {
    return this.#pending.length;
  }

  succeeded(): void {
    const sent = this.#pending.shift();
    if (sent !== undefined) this.#safe = Math.max(this.#safe, sent);
  }

  noLeaderPossible(checkStartedAt: number): void {
    this.renewedAt(checkStartedAt);
  }

  /** A renewal sent at `sentAt` was answered (through another path than the stream). */
  renewedAt(sentAt: number): void {
    this.#safe = Math.max(this.#safe, sentAt);
  }

  /** The last moment this CPE's DPEs may still run. */
  get deadline(): number {
    return this.#safe + this.#ttlMs - this.#marginMs;
  }

  /** Time since the last proof that the lease lived. */
  sinceSafe(now: number): number {
    return now - this.#safe;
  }
}

/** What one etcd member said to a check. */
export type MemberProbe =
  /** Its port refused the connection: its host is up, and no etcd runs there. */
  | 'down'
  /** It answered, and it has no leader. */
  | 'leaderless'
  /** It answered with a leader. */
  | 'led'
  /** No answer in time: down, or cut off from us, and perhaps working on. */
  | 'unknown';

/**
 * Whether no leader can exist: a majority of the `members` is down or
 * leaderless, so no majority can elect one or commit a lease's expiry. A
 * member that does not answer may be working beyond a partition, so it
 * proves nothing.
 */
export function quorumImpossible(probes: readonly MemberProbe[], members: number): boolean {
  const out = probes.filter((p) => p === 'down' || p === 'leaderless').length;
  return out >= Math.floor(members / 2) + 1;
}
