import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { memberProcs } from '../../src/cluster/etcd-cluster.js';

describe('memberProcs: Go threads per member of a local cluster', () => {
  it('gives each member its share of the cores, at least one', () => {
    assert.equal(memberProcs(2, 3), 1);
    assert.equal(memberProcs(1, 3), 1);
    assert.equal(memberProcs(6, 3), 2);
    assert.equal(memberProcs(16, 3), 5);
    assert.equal(memberProcs(4, 1), 4);
    assert.equal(memberProcs(4, 0), 4);
  });
});
