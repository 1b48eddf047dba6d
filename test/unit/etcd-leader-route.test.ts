import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EtcdLeaderRoute, leaderOf, RECOVERY_MAX_MS, RECOVERY_STATUS_MS, type LeaderClaim } from '../../src/storage/etcd/etcd-leader-route.js';

const member = (raftTerm: string, isLeader: boolean): LeaderClaim => ({ reachable: true, raftTerm, isLeader });
const gone: LeaderClaim = { reachable: false };

describe('leaderOf', () => {
  it('the member that leads the highest term', () => {
    assert.equal(leaderOf([member('7', false), member('7', true), member('7', false)]), 1);
  });

  it('an old leader cut off from the majority still claims its term: the higher term wins', () => {
    assert.equal(leaderOf([member('7', true), member('8', false), member('8', true)]), 2);
  });

  it('no leader at the highest term (an election under way), or nobody reachable: none', () => {
    assert.equal(leaderOf([member('7', true), member('8', false), member('8', false)]), null);
    assert.equal(leaderOf([gone, gone, gone]), null);
    assert.equal(leaderOf([]), null);
  });

  it('terms compare as numbers, not as text', () => {
    assert.equal(leaderOf([member('9', true), member('10', true)]), 1);
  });
});

const tick = () => new Promise((done) => setImmediate(done));

/** A status source whose answers the test releases one by one. */
function controlled() {
  const waiting: ((s: LeaderClaim[]) => void)[] = [];
  const deadlines: (number | undefined)[] = [];
  return {
    deadlines,
    ask: (deadlineMs?: number) => {
      deadlines.push(deadlineMs);
      return new Promise<LeaderClaim[]>((resolve) => waiting.push(resolve));
    },
    answer(s: LeaderClaim[]) {
      const next = waiting.shift();
      assert.ok(next, 'a question is waiting');
      next(s);
    },
    get waiting() {
      return waiting.length;
    },
  };
}

const leaderNow = (route: EtcdLeaderRoute) => route.current()?.member ?? null;

describe('EtcdLeaderRoute', () => {
  it('routes to the leader; after a failed call to it, none until a fresh answer names one', async () => {
    let now = 1_000;
    const statuses = controlled();
    const route = new EtcdLeaderRoute(statuses.ask, () => now);
    try {
      statuses.answer([member('3', false), member('3', true), member('3', false)]);
      await tick();
      const sent = route.current();
      assert.deepEqual(sent?.member, 1);
      assert.equal(route.recovering(), false);
      route.failed(2, sent?.generation ?? -1);
      assert.equal(leaderNow(route), 1, 'a failed call to another member changes nothing');
      route.failed(1, sent?.generation ?? -1);
      assert.equal(leaderNow(route), null);
      assert.equal(route.recovering(), true, 'short deadlines while no member is known to lead');
      assert.equal(route.avoided(), 1, 'the failed member is left out meanwhile');
      assert.equal(statuses.deadlines.at(-1), RECOVERY_STATUS_MS, 'asked with a short deadline');
      statuses.answer([gone, member('3', false), member('3', false)]);
      await tick();
      assert.equal(leaderNow(route), null, 'an election under way: no leader yet');
      now += 100;
      await new Promise((done) => setTimeout(done, 150));
      assert.ok(statuses.waiting > 0, 'asked again soon');
      statuses.answer([member('4', true), gone, member('4', false)]);
      await tick();
      assert.equal(leaderNow(route), 0, 'the new leader');
      assert.equal(route.recovering(), false);
      assert.equal(route.avoided(), null);
      route.failed(0, sent?.generation ?? -1);
      assert.equal(leaderNow(route), 0, 'a call sent before the last recovery does not start another one');
    } finally {
      route.stop();
    }
  });

  it('an answer to a question asked before the failure does not bring the failed leader back', async () => {
    const statuses = controlled();
    const route = new EtcdLeaderRoute(statuses.ask);
    try {
      statuses.answer([member('3', true), member('3', false), member('3', false)]);
      await tick();
      await new Promise((done) => setTimeout(done, 1_050)); // the periodic question is now waiting
      assert.equal(statuses.waiting, 1);
      route.failed(0, route.current()?.generation ?? -1);
      await tick();
      assert.equal(statuses.waiting, 2, 'a fresh question, not the one already asked');
      statuses.answer([member('3', true), member('3', false), member('3', false)]);
      await tick();
      assert.equal(leaderNow(route), null, 'the stale answer is dropped');
      statuses.answer([gone, member('4', true), member('4', false)]);
      await tick();
      assert.equal(leaderNow(route), 1);
    } finally {
      route.stop();
    }
  });

  it('recovery ends after RECOVERY_MAX_MS even when no leader shows: calls go to the whole cluster again', async () => {
    let now = 1_000;
    let answer: LeaderClaim[] = [member('3', true), member('3', false), member('3', false)];
    const route = new EtcdLeaderRoute(async () => answer, () => now);
    try {
      await tick();
      answer = [gone, member('3', false), member('3', false)];
      route.failed(0, route.current()?.generation ?? -1);
      assert.equal(route.recovering(), true);
      now += RECOVERY_MAX_MS;
      assert.equal(route.recovering(), false);
      assert.equal(route.current(), null);
      assert.equal(route.avoided(), null);
    } finally {
      route.stop();
    }
  });

  it('a status call that fails leaves no leader', async () => {
    const route = new EtcdLeaderRoute(async () => {
      throw new Error('no member answers');
    });
    try {
      await tick();
      assert.equal(route.current(), null);
    } finally {
      route.stop();
    }
  });
});
