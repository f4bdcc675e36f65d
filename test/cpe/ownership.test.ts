import { strict as assert } from 'node:assert';
import { LeaseDeadline, preferredMember, quorumImpossible } from '../../cpe/ownership.js';

describe('ownership in a CPE cluster', () => {
  describe('preferredMember (rendezvous hashing)', () => {
    const names = Array.from({ length: 3000 }, (_, i) => `deployable-${i}`);

    it('gives each member an even share', () => {
      const members = ['a', 'b', 'c'];
      const share = new Map<string, number>();
      for (const n of names) {
        const m = preferredMember(n, members)!;
        share.set(m, (share.get(m) ?? 0) + 1);
      }
      for (const m of members)
        assert.ok(Math.abs(share.get(m)! - 1000) < 100, `${m}: ${share.get(m)}`);
    });

    it('moves only what a joining member gains, and only what a leaving one held', () => {
      const before = new Map(names.map((n) => [n, preferredMember(n, ['a', 'b', 'c'])]));
      const joined = new Map(names.map((n) => [n, preferredMember(n, ['a', 'b', 'c', 'd'])]));
      for (const n of names) if (joined.get(n) !== before.get(n)) assert.equal(joined.get(n), 'd');
      const left = new Map(names.map((n) => [n, preferredMember(n, ['a', 'c'])]));
      for (const n of names) if (left.get(n) !== before.get(n)) assert.equal(before.get(n), 'b');
    });

    it('is the same whatever the order of the members, and none without members', () => {
      for (const n of names.slice(0, 100))
        assert.equal(preferredMember(n, ['a', 'b', 'c']), preferredMember(n, ['c', 'a', 'b']));
      assert.equal(preferredMember('x', []), undefined);
    });
  });

  describe('LeaseDeadline', () => {
    it('counts a keepalive from when it was sent, in order, and stops the DPEs a margin before the TTL', () => {
      const d = new LeaseDeadline(10_000, 2000, 0);
      assert.equal(d.deadline, 8000);
      d.fired(3000);
      d.fired(6000);
      assert.equal(d.pending, 2);
      d.succeeded(); // the reply to the one sent at 3000, though it arrives later
      assert.equal(d.deadline, 11_000);
      d.succeeded();
      assert.equal(d.deadline, 14_000);
      d.succeeded(); // no keepalive outstanding: nothing moves
      assert.equal(d.deadline, 14_000);
    });

    it('forgets what was sent on a stream that is replaced', () => {
      const d = new LeaseDeadline(10_000, 2000, 0);
      d.fired(3000);
      d.restarted();
      d.fired(5000);
      d.succeeded();
      assert.equal(d.deadline, 13_000);
    });

    it('takes a check that found no leader possible as a keepalive sent when it began, never as a step back', () => {
      const d = new LeaseDeadline(10_000, 2000, 5000);
      d.noLeaderPossible(9000);
      assert.equal(d.deadline, 17_000);
      d.noLeaderPossible(7000);
      assert.equal(d.deadline, 17_000);
      assert.equal(d.sinceSafe(12_000), 3000);
    });
  });

  describe('quorumImpossible', () => {
    it('needs a majority down or leaderless; a member that does not answer proves nothing', () => {
      assert.equal(quorumImpossible(['leaderless', 'down', 'down'], 3), true);
      assert.equal(quorumImpossible(['leaderless', 'unknown', 'unknown'], 3), false);
      assert.equal(quorumImpossible(['leaderless', 'down', 'unknown'], 3), true);
      assert.equal(quorumImpossible(['led', 'down', 'led'], 3), false);
      assert.equal(quorumImpossible(['unknown', 'unknown', 'unknown'], 3), false);
      assert.equal(quorumImpossible(['down', 'down', 'leaderless', 'led', 'led'], 5), true);
      assert.equal(quorumImpossible(['down', 'down', 'led', 'led', 'led'], 5), false);
    });
  });
});
