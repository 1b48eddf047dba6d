import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TxnReq, TxnRes } from '../../src/storage/etcd/etcd-client.js';
import { EtcdTxnCombiner } from '../../src/storage/etcd/etcd-txn-combiner.js';

/** A transaction writing `writes` and comparing `compares` (keys only: the combiner never reads values). */
function txn(writes: string[], compares: string[] = []): TxnReq {
  return {
    compare: compares.map((k) => ({ key: Buffer.from(k), target: 'Mod', result: 'Equal', mod_revision: '1' })),
    success: writes.map((k) => ({ request_put: { key: Buffer.from(k), value: Buffer.from('v') } })),
    failure: [{ request_range: { key: Buffer.from('failure-read') } }],
  };
}

const turn = () => new Promise<void>((r) => setImmediate(r));

/** A fake etcd: records what is sent, answers when told. */
function fakeEtcd() {
  const sent: { req: TxnReq; answer: (res: TxnRes | Error) => void }[] = [];
  const send = (req: TxnReq) =>
    new Promise<TxnRes>((resolve, reject) => sent.push({ req, answer: (r) => (r instanceof Error ? reject(r) : resolve(r)) }));
  const ok = (revision: string): TxnRes => ({ succeeded: true, header: { revision }, responses: [] });
  const refused: TxnRes = { succeeded: false, header: { revision: '9' }, responses: [{}] };
  const writes = (i: number) => sent[i]?.req.success.map((op) => ('request_put' in op ? op.request_put.key.toString() : '?'));
  return { sent, send, ok, refused, writes };
}

const limits = { maxOps: 120, maxBytes: 1_000_000 };

describe('EtcdTxnCombiner', () => {
  it('sends the batches of two series ready together as one transaction, and answers both', async () => {
    const etcd = fakeEtcd();
    const c = new EtcdTxnCombiner(etcd.send, limits);
    const a = c.txn(txn(['a/state', 'a/audit']), undefined, 'a');
    const b = c.txn(txn(['b/state', 'b/audit']), undefined, 'b');
    await turn();
    assert.equal(etcd.sent.length, 1);
    assert.deepEqual(etcd.writes(0), ['a/state', 'a/audit', 'b/state', 'b/audit']);
    assert.deepEqual(etcd.sent[0]?.req.failure, [], 'a combination reads nothing when refused');
    etcd.sent[0]?.answer(etcd.ok('7'));
    assert.equal((await a).header.revision, '7');
    assert.equal((await b).succeeded, true);
  });

  it('a refused combination: each part is sent alone, and each caller gets its own answer', async () => {
    const etcd = fakeEtcd();
    const c = new EtcdTxnCombiner(etcd.send, limits);
    const a = c.txn(txn(['a/state']), undefined, 'a');
    const b = c.txn(txn(['b/state']), undefined, 'b');
    await turn();
    etcd.sent[0]?.answer(etcd.refused);
    await turn();
    assert.equal(etcd.sent.length, 3);
    assert.deepEqual([etcd.writes(1), etcd.writes(2)], [['a/state'], ['b/state']]);
    assert.equal(etcd.sent[1]?.req.failure.length, 1, 'sent alone, with its own failure reads');
    etcd.sent[1]?.answer(etcd.refused);
    etcd.sent[2]?.answer(etcd.ok('8'));
    assert.equal((await a).succeeded, false);
    assert.equal((await b).succeeded, true);
  });

  it('an unanswered combination is unanswered for every part', async () => {
    const etcd = fakeEtcd();
    const c = new EtcdTxnCombiner(etcd.send, limits);
    const a = c.txn(txn(['a/state']), undefined, 'a');
    const b = c.txn(txn(['b/state']), undefined, 'b');
    await turn();
    etcd.sent[0]?.answer(new Error('deadline exceeded'));
    await assert.rejects(a, /deadline/);
    await assert.rejects(b, /deadline/);
  });

  it('never combines parts where one writes a key another writes or compares', async () => {
    const etcd = fakeEtcd();
    const c = new EtcdTxnCombiner(etcd.send, limits);
    void c.txn(txn(['shared-request', 'a/state'], ['shared-request']), undefined, 'a');
    void c.txn(txn(['shared-request', 'b/state'], ['shared-request']), undefined, 'b');
    void c.txn(txn(['c/state'], ['maintenance']), undefined, 'c');
    void c.txn(txn(['maintenance', 'd/state']), undefined, 'd');
    // The writer first, then one comparing what it writes.
    void c.txn(txn(['settings', 'e/state']), undefined, 'e');
    void c.txn(txn(['f/state'], ['settings']), undefined, 'f');
    await turn();
    assert.equal(etcd.sent.length, 2, 'two transactions: what does not fit in the first goes in a second');
    assert.deepEqual(etcd.writes(0), ['shared-request', 'a/state', 'c/state', 'settings', 'e/state']);
    assert.deepEqual(etcd.writes(1), ['shared-request', 'b/state', 'maintenance', 'd/state', 'f/state']);
  });

  it('keeps within the operation limit; a queue larger than one transaction sends a second at once', async () => {
    const etcd = fakeEtcd();
    const c = new EtcdTxnCombiner(etcd.send, { maxOps: 4, maxBytes: 1_000_000 });
    for (const lane of ['a', 'b', 'c']) void c.txn(txn([`${lane}/1`, `${lane}/2`]), undefined, lane);
    await turn();
    assert.equal(etcd.sent.length, 2);
    assert.deepEqual(etcd.writes(0), ['a/1', 'a/2', 'b/1', 'b/2']);
    assert.deepEqual(etcd.writes(1), ['c/1', 'c/2']);
  });

  it('waits a few turns for the series just answered, so that two busy series keep sharing', async () => {
    const etcd = fakeEtcd();
    const c = new EtcdTxnCombiner(etcd.send, limits);
    const a = c.txn(txn(['a/1']), undefined, 'a');
    await turn();
    // b arrives while a's transaction is in flight: it waits for the next round.
    void c.txn(txn(['b/1']), undefined, 'b');
    await turn();
    assert.equal(etcd.sent.length, 1);
    etcd.sent[0]?.answer(etcd.ok('3'));
    await a;
    // a's next batch is planned two turns after its answer: it still joins b's round.
    await turn();
    await turn();
    void c.txn(txn(['a/2']), undefined, 'a');
    for (let i = 0; i < 6; i++) await turn();
    assert.equal(etcd.sent.length, 2);
    assert.deepEqual(etcd.writes(1), ['b/1', 'a/2']);
  });

  it('sends a range delete alone, at once, and a re-send when asked; a single-key delete is combined', async () => {
    const etcd = fakeEtcd();
    const c = new EtcdTxnCombiner(etcd.send, limits);
    const ranged: TxnReq = { compare: [], success: [{ request_delete_range: { key: Buffer.from('k/'), range_end: Buffer.from('k0') } }], failure: [] };
    void c.txn(ranged, undefined, 'a');
    assert.equal(etcd.sent.length, 1, 'not queued');
    assert.equal(etcd.sent[0]?.req, ranged);
    const resend = txn(['b/state']);
    void c.txn(resend, undefined, 'b', true);
    assert.equal(etcd.sent[1]?.req, resend, 'a re-send goes alone, at once');
    const single: TxnReq = { compare: [], success: [{ request_delete_range: { key: Buffer.from('c/gaps') } }], failure: [] };
    void c.txn(single, undefined, 'c');
    void c.txn(txn(['d/state'], ['c/gaps']), undefined, 'd');
    void c.txn(txn(['e/state']), undefined, 'e');
    await turn();
    assert.equal(etcd.sent.length, 4);
    assert.deepEqual(etcd.writes(2), ['?', 'e/state'], 'the delete and e together; d compares the deleted key');
    assert.deepEqual(etcd.writes(3), ['d/state']);
  });

  it('holds a ready batch behind a round in flight only briefly: a stuck round holds up nobody', async () => {
    const etcd = fakeEtcd();
    const c = new EtcdTxnCombiner(etcd.send, limits);
    void c.txn(txn(['a/1']), undefined, 'a');
    await turn();
    void c.txn(txn(['b/1']), undefined, 'b');
    await turn();
    assert.equal(etcd.sent.length, 1, 'b waits for the next round');
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(etcd.sent.length, 2, 'a never answered: b went on its own');
    assert.deepEqual(etcd.writes(1), ['b/1']);
  });

  it('counts compares against the limit, and the bytes of compared values', async () => {
    const etcd = fakeEtcd();
    const c = new EtcdTxnCombiner(etcd.send, { maxOps: 3, maxBytes: 1_000_000 });
    void c.txn(txn(['a/1'], ['a/x', 'a/y']), undefined, 'a');
    void c.txn(txn(['b/1'], ['b/x', 'b/y']), undefined, 'b');
    await turn();
    assert.deepEqual([etcd.writes(0), etcd.writes(1)], [['a/1'], ['b/1']], '4 compares do not fit in 3');
    const big = new EtcdTxnCombiner(etcd.send, { maxOps: 100, maxBytes: 1000 });
    const compareValue = (lane: string): TxnReq => ({
      compare: [{ key: Buffer.from(`${lane}/head`), target: 'Value', result: 'Equal', value: Buffer.alloc(600) }],
      success: [{ request_put: { key: Buffer.from(`${lane}/1`), value: Buffer.from('v') } }],
      failure: [],
    });
    void big.txn(compareValue('c'), undefined, 'c');
    void big.txn(compareValue('d'), undefined, 'd');
    await turn();
    assert.deepEqual([etcd.writes(2), etcd.writes(3)], [['c/1'], ['d/1']], '2 × 600 compared bytes do not fit in 1000');
  });
});
