import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EtcdLeaderRoute, LEADER_PAUSE_MS, leaderOf, type LeaderClaim } from '../../src/storage/etcd/etcd-leader-route.js';

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

describe('EtcdLeaderRoute', () => {
  it('routes to the leader; after a failed call to it, spreads for a pause and asks again', async () => {
    let now = 1_000;
    let answer: LeaderClaim[] = [member('3', false), member('3', true), member('3', false)];
    let asked = 0;
    const route = new EtcdLeaderRoute(async () => {
      asked++;
      return answer;
    }, () => now);
    try {
      await new Promise((done) => setImmediate(done));
      assert.equal(route.current(), 1);
      answer = [member('4', true), gone, member('4', false)];
      route.failed(1);
      assert.equal(route.current(), null, 'spread while paused');
      await new Promise((done) => setImmediate(done));
      assert.ok(asked >= 2, 'asked again after the failure');
      assert.equal(route.current(), null, 'still paused');
      now += LEADER_PAUSE_MS;
      assert.equal(route.current(), 0, 'the new leader once the pause is over');
      route.failed(2);
      assert.equal(route.current(), 0, 'a failure of another member does not pause the route');
    } finally {
      route.stop();
    }
  });

  it('a status call that fails leaves no leader', async () => {
    const route = new EtcdLeaderRoute(async () => {
      throw new Error('no member answers');
    });
    try {
      await new Promise((done) => setImmediate(done));
      assert.equal(route.current(), null);
    } finally {
      route.stop();
    }
  });
});
