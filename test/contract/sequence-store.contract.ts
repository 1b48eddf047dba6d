import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ChainVerifier } from '../../src/domain/chain-verifier.js';
import { MaintenanceError } from '../../src/domain/errors/index.js';
import { planBatch, type CommitPlan } from '../../src/domain/planner.js';
import type { NumberRecord, Op, SeriesState } from '../../src/domain/types.js';
import type { CommitResult, SequenceStore } from '../../src/storage/sequence-store.js';

/** How the contract suite gets a backend: a fresh empty store, and the same data reopened. */
export interface StoreFactory {
  /** A new store over fresh, empty storage. */
  open(): Promise<SequenceStore>;
  /** Closes `store` and opens the same storage again (durability across restarts). */
  reopen(store: SequenceStore): Promise<SequenceStore>;
  cleanup(): Promise<void>;
}

const A = { siteId: 'site-1', partitionId: 'partition-a' } as const;
const B = { siteId: 'site-2', partitionId: 'partition-b' } as const;
let batchNo = 0;

/** Plans `ops` on `state` (looking up release numbers in the store) and commits it. */
async function apply(store: SequenceStore, state: SeriesState, ops: Op[], batchId = `contract-${++batchNo}`) {
  const numbers = ops.flatMap((o) => ((o.kind === 'release' || o.kind === 'confirm') && o.sequenceNumber <= state.hwm ? [o.sequenceNumber] : []));
  const records = await store.lookupNumbers(state.series, numbers);
  const plan = planBatch(state, ops, records, {
    batchId,
    node: 'contract',
    now: Date.now(),
    gapPolicy: 'lowest-first',
    settings: { simulatedEnabled: true },
  });
  assert.ok(plan.commit, 'the ops should change something');
  const result = await store.commit(plan.commit);
  assert.equal(result.status, 'committed');
  const next: SeriesState = { ...plan.commit.next, version: result.status === 'committed' ? result.version : '' };
  return { plan, commit: plan.commit as CommitPlan, state: next };
}

const alloc = (count: number, holder: { siteId: string; partitionId: string } = A): Op => ({
  kind: 'allocate',
  ...holder,
  invoiceType: 'on-cycle',
  count,
});

async function verify(store: SequenceStore, series: string) {
  const state = await store.loadSeries(series, 1);
  const v = new ChainVerifier(series, state.start);
  for (const e of await store.readEvents(series, 0, 1_000_000)) v.push(e);
  return v.finish(state);
}

/**
 * The behaviour every {@link SequenceStore} must show. Each backend's test file calls this with
 * its factory, so SQLite and etcd are held to exactly the same contract.
 */
export function sequenceStoreContract(name: string, factory: () => StoreFactory, options: { readonly timeout?: number } = {}): void {
  // `timeout`: a store that stops answering (a pooler that loses a statement) fails the suite instead of hanging the run.
  describe(`SequenceStore contract: ${name}`, options, () => {
    let f: StoreFactory;
    let store: SequenceStore;

    before(async () => {
      f = factory();
      store = await f.open();
    });
    after(async () => {
      await store.close();
      await f.cleanup();
    });

    it('creates an empty series at its start number, once', async () => {
      const s = await store.loadSeries('c-empty', 100);
      assert.equal(s.start, 100);
      assert.equal(s.hwm, 99);
      assert.equal(s.eventSeq, 0);
      assert.deepEqual(s.openGaps, []);
      const again = await store.loadSeries('c-empty', 5);
      assert.equal(again.start, 100, 'an existing series keeps its start');
      assert.ok((await store.listSeries()).includes('c-empty'));
    });

    it('moves the start of a series that holds no event, on its version only; never one that committed', async () => {
      const s0 = await store.loadSeries('c-move', 1);
      const moved = await store.moveEmptySeriesStart('c-move', 1000, s0.version);
      assert.deepEqual([moved.start, moved.hwm, moved.eventSeq], [1000, 999, 0]);
      assert.notEqual(moved.version, s0.version, 'a plan made on the state before cannot commit');
      const stalePlan = planBatch(s0, [alloc(1)], new Map(), { batchId: 'c-move-stale', node: 'contract', now: Date.now(), gapPolicy: 'lowest-first', settings: { simulatedEnabled: true } }).commit;
      assert.ok(stalePlan);
      assert.equal((await store.commit(stalePlan)).status, 'conflict');
      // On a version it no longer has: nothing moves.
      const again = await store.moveEmptySeriesStart('c-move', 5, s0.version);
      assert.equal(again.start, 1000);
      const { state } = await apply(store, moved, [alloc(2)]);
      assert.equal(state.hwm, 1001);
      const after = await store.moveEmptySeriesStart('c-move', 1, state.version);
      assert.deepEqual([after.start, after.hwm], [1000, 1001], 'a series that committed keeps its start');
      assert.equal((await verify(store, 'c-move')).valid, true);
    });

    it('commits a plan atomically and loads back exactly the planned state', async () => {
      const s0 = await store.loadSeries('c-commit', 1);
      const { state } = await apply(store, s0, [alloc(3), alloc(2, B)]);
      const loaded = await store.loadSeries('c-commit', 1);
      assert.equal(loaded.hwm, 5);
      assert.equal(loaded.version, state.version);
      assert.notEqual(loaded.version, s0.version);
      assert.equal(loaded.eventSeq, 2);
      assert.equal(loaded.lastHash, state.lastHash);
      assert.deepEqual(loaded.counters, { issued: 5, refilled: 0, released: 0, voided: 0 });
      assert.equal((await verify(store, 'c-commit')).valid, true);
      assert.equal(await store.seriesVersion('c-commit'), state.version, 'the version read alone matches the state');
      assert.equal(await store.seriesVersion('c-never-created'), null);
    });

    it('lists every series at the version a load answers: every change (a close and an archive too) gives a new one', async () => {
      const name = 'c-versions@2025';
      const s0 = await store.loadSeries(name, 1);
      const listed = async () => (await store.seriesVersions()).get(name);
      assert.equal(await listed(), s0.version);
      const seen = [s0.version];
      const steps: ((st: SeriesState) => Op)[] = [
        () => alloc(3),
        () => ({ kind: 'release', sequenceNumber: 2, ...A, reason: 'cancelled' }),
        () => ({ kind: 'close', reason: 'period 2025 ended' }),
        (st) => ({ kind: 'archive', file: '/archives/c-versions.seqd-archive', sha256: 'b'.repeat(64), headSeq: st.eventSeq, headHash: st.lastHash, reason: 'retention' }),
      ];
      let state = s0;
      for (const step of steps) {
        ({ state } = await apply(store, state, [step(state)]));
        assert.equal(await listed(), state.version, `listed after ${step(state).kind}`);
        seen.push(state.version);
      }
      assert.equal(new Set(seen).size, seen.length, `a new version at every change: ${seen.join(', ')}`);
      while ((await store.purgeArchived(name)) > 0);
      const loaded = await store.loadSeries(name, 1);
      assert.equal(await listed(), loaded.version, 'after the purge, the listing and a load agree');
      const all = await store.seriesVersions();
      assert.deepEqual([...all.keys()], await store.listSeries(), 'the same series as listSeries, in its order');
      assert.equal(all.get('c-never-listed'), undefined);
    });

    it('refuses a plan made on an old version and writes nothing of it', async () => {
      const s0 = await store.loadSeries('c-conflict', 1);
      await apply(store, s0, [alloc(1)]);
      const stale = planBatch(s0, [alloc(1)], new Map(), {
        batchId: 'c-conflict-stale',
        node: 'contract',
        now: Date.now(),
        gapPolicy: 'lowest-first',
        settings: { simulatedEnabled: true },
      }).commit;
      assert.ok(stale);
      const result = await store.commit(stale);
      assert.equal(result.status, 'conflict');
      assert.equal(result.status === 'conflict' ? result.state.hwm : -1, 1);
      const events = await store.readEvents('c-conflict', 0, 100);
      assert.equal(events.length, 1, 'the stale plan left no event');
    });

    it('treats a re-applied batch id as already committed (idempotent)', async () => {
      const s0 = await store.loadSeries('c-idem', 1);
      const { commit } = await apply(store, s0, [alloc(2)], 'c-idem-batch');
      const again = await store.commit(commit);
      assert.equal(again.status, 'committed');
      assert.equal((await store.totals('c-idem'))[0]?.issued, 2, 'totals were not added twice');
      // The next batch, planned on the state the re-applied one left, adds its own totals only:
      // a store that kept the re-applied batch's totals added twice would write them now.
      assert.ok(again.status === 'committed');
      await apply(store, { ...commit.next, version: again.version }, [alloc(1)]);
      assert.equal((await store.totals('c-idem'))[0]?.issued, 3, 'the next batch carried no doubled totals');
      const loaded = await store.loadSeries('c-idem', 1);
      assert.equal(loaded.hwm, 3);
      assert.equal((await store.readEvents('c-idem', 0, 100)).length, 2);
    });

    it('stores idempotency records with the allocation and answers them until they expire', async () => {
      const s0 = await store.loadSeries('c-requests', 1);
      const keyed: Op = { ...alloc(3), requestId: 'order-42/retry é' } as Op;
      const { state, plan: firstPlan } = await apply(store, s0, [alloc(1), keyed, { ...alloc(1), requestId: 'k2' } as Op]);
      const t = Date.now();
      const found = await store.lookupRequests('c-requests', ['order-42/retry é', 'k2', 'never-used'], t - 60_000);
      assert.deepEqual([...found.keys()].sort(), ['k2', 'order-42/retry é']);
      assert.deepEqual(found.get('order-42/retry é')?.numbers, [2, 3, 4]);
      assert.equal(found.get('k2')?.numbers[0], 5);
      const original = firstPlan.outcomes[1];
      assert.ok(original?.ok && original.kind === 'allocate');
      assert.deepEqual(found.get('order-42/retry é')?.allocation, original.allocation, 'the record names its allocation');
      // A record older than the window counts as absent.
      assert.equal((await store.lookupRequests('c-requests', ['k2'], t + 60_000)).size, 0);
      // Planned with the record, a retry gets the same numbers and writes nothing.
      const retry = planBatch(state, [keyed], await store.lookupNumbers('c-requests', [2, 3, 4]), {
        batchId: 'c-requests-retry',
        node: 'contract',
        now: Date.now(),
        gapPolicy: 'lowest-first',
        settings: { simulatedEnabled: true },
        requests: found,
      });
      assert.equal(retry.commit, null);
      const o = retry.outcomes[0];
      assert.ok(o?.ok && o.kind === 'allocate');
      assert.deepEqual(o.numbers, [2, 3, 4]);
      // Records survive a restart.
      store = await f.reopen(store);
      assert.equal((await store.lookupRequests('c-requests', ['k2'], t - 60_000)).get('k2')?.numbers[0], 5);
    });

    it('records an idempotency key once across series: a second series committing it conflicts', async () => {
      const plan = async (series: string, batchId: string) => {
        const state = await store.loadSeries(series, 1);
        const p = planBatch(state, [{ ...alloc(2), requestId: 'spans-periods' } as Op], new Map(), {
          batchId,
          node: 'contract',
          now: Date.now(),
          gapPolicy: 'lowest-first',
          settings: { simulatedEnabled: true },
          requests: await store.lookupRequests(series, ['spans-periods'], Date.now() - 60_000),
        });
        assert.ok(p.commit);
        return p.commit;
      };
      // Both planned before either commits: each saw the key as new (a request in flight across
      // midnight and its retry in the new period).
      const old = await plan('c-key@2026', 'c-key-old');
      const retry = await plan('c-key@2027', 'c-key-new');
      assert.equal((await store.commit(retry)).status, 'committed');
      assert.equal((await store.commit(old)).status, 'conflict', 'the key already belongs to the other series');
      assert.equal((await store.loadSeries('c-key@2026', 1)).hwm, 0, 'nothing of the losing plan was written');
      const found = await store.lookupRequests('c-key@2026', ['spans-periods'], Date.now() - 60_000);
      assert.equal(found.get('spans-periods')?.series, 'c-key@2027', 'found from either series, naming its own');
      assert.deepEqual(found.get('spans-periods')?.numbers, [1, 2]);
      // The losing plan re-sent later (an unknown outcome being settled), after that lookup: still
      // refused, however recently the key was read.
      assert.equal((await store.commit(old)).status, 'conflict');
      assert.equal((await store.loadSeries('c-key@2026', 1)).hwm, 0);
    });

    it('loads a series state with the open gaps of that same commit, while batches commit', async () => {
      let state = await store.loadSeries('c-snapshot', 1);
      let stop = false;
      let loads = 0;
      let torn: string | null = null;
      // Every batch below releases the number the one before it gave (issued, or refilled from the
      // open gap): open gaps = released - refilled, in every state a commit left.
      const reader = (async () => {
        while (!stop && torn === null) {
          const s = await store.loadSeries('c-snapshot', 1);
          loads++;
          if (s.openGaps.length !== s.counters.released - s.counters.refilled) torn = `version ${s.version}: ${s.openGaps.length} open gaps, ${s.counters.released} released, ${s.counters.refilled} refilled`;
          await new Promise((r) => setImmediate(r));
        }
      })();
      for (let i = 0; i < 150 && torn === null; i++) {
        ({ state } = await apply(store, state, [alloc(1)]));
        ({ state } = await apply(store, state, [{ kind: 'release', sequenceNumber: state.hwm, ...A, reason: 'snapshot' }]));
      }
      stop = true;
      await reader;
      assert.equal(torn, null, `a load mixed two commits (after ${loads} loads)`);
    });

    it('commits batches of several series sent at once each on its own: one conflict fails no other', async () => {
      const planOn = async (state: SeriesState, op: Op, batchId: string, keys: string[] = []) => {
        const p = planBatch(state, [op], new Map(), {
          batchId,
          node: 'contract',
          now: Date.now(),
          gapPolicy: 'lowest-first',
          settings: { simulatedEnabled: true },
          requests: await store.lookupRequests(state.series, keys, Date.now() - 60_000),
        });
        assert.ok(p.commit);
        return p.commit;
      };
      const load = (series: string) => store.loadSeries(series, 1);
      // A stale plan: planned on a version another batch has already moved on from.
      const stale0 = await load('c-many-stale');
      await apply(store, stale0, [alloc(1)]);
      const plans = {
        one: await planOn(await load('c-many-1'), alloc(2), 'c-many-1'),
        two: await planOn(await load('c-many-2'), alloc(3), 'c-many-2'),
        stale: await planOn(stale0, alloc(1), 'c-many-stale-old'),
        // The same idempotency key from two series at once: exactly one of them records it.
        keyA: await planOn(await load('c-many-key-a'), { ...alloc(1), requestId: 'c-many-shared' } as Op, 'c-many-key-a', ['c-many-shared']),
        keyB: await planOn(await load('c-many-key-b'), { ...alloc(1), requestId: 'c-many-shared' } as Op, 'c-many-key-b', ['c-many-shared']),
      };
      const [one, two, stale, keyA, keyB] = await Promise.all([plans.one, plans.two, plans.stale, plans.keyA, plans.keyB].map((c) => store.commit(c)));
      assert.equal(one?.status, 'committed');
      assert.equal(two?.status, 'committed');
      assert.equal(stale?.status, 'conflict', 'planned on an old version');
      assert.deepEqual([keyA?.status, keyB?.status].sort(), ['committed', 'conflict'], 'one key, one series');
      assert.equal((await load('c-many-1')).hwm, 2);
      assert.equal((await load('c-many-2')).hwm, 3);
      assert.equal((await load('c-many-stale')).hwm, 1, 'nothing of the stale plan was written');
      assert.equal((await load('c-many-key-a')).hwm + (await load('c-many-key-b')).hwm, 1);
      for (const series of ['c-many-1', 'c-many-2', 'c-many-stale', 'c-many-key-a', 'c-many-key-b']) {
        assert.equal((await verify(store, series)).valid, true, series);
      }
    });

    describe('pipelining: a batch planned on one still committing', () => {
      const why = 'the store commits one batch of a series at a time (no pipelining)';
      /** Plans `ops` on `state` without committing; `predicted` is the state once it lands. */
      const planOn = async (state: SeriesState, ops: Op[], batchId: string) => {
        const numbers = ops.flatMap((o) => (o.kind === 'release' || o.kind === 'confirm' ? [o.sequenceNumber] : []));
        const records = await store.lookupNumbers(state.series, numbers);
        const commit = planBatch(state, ops, records, { batchId, node: 'contract', now: Date.now(), gapPolicy: 'lowest-first', settings: { simulatedEnabled: true } }).commit;
        assert.ok(commit && store.pipelining);
        return { commit, predicted: { ...commit.next, version: store.pipelining.nextVersion(commit) } };
      };

      it('lands right after its predecessor, on its result; number records of both are kept', async (t) => {
        if (!store.pipelining) return t.skip(why);
        const s0 = await store.loadSeries('c-pipe', 1);
        const { state } = await apply(store, s0, [alloc(4)]);
        const first = await planOn(state, [{ kind: 'confirm', sequenceNumber: 2, ...A }, alloc(1)], 'c-pipe-1');
        const second = await planOn(first.predicted, [{ kind: 'release', sequenceNumber: 3, ...A, reason: 'pipelined' }], 'c-pipe-2');
        assert.equal((await store.commit(first.commit)).status, 'committed');
        const landed = await store.commit(second.commit);
        assert.equal(landed.status, 'committed');
        const records = await store.lookupNumbers('c-pipe', [2, 3]);
        assert.equal(records.get(2)?.status, 'confirmed', "the predecessor's confirm survived the next batch's rewrite");
        assert.equal(records.get(3)?.status, 'open', 'released: an open gap');
        const loaded = await store.loadSeries('c-pipe', 1);
        assert.equal(loaded.hwm, 5);
        assert.equal(loaded.version, landed.status === 'committed' ? landed.version : '');
        assert.equal((await verify(store, 'c-pipe')).valid, true);
        assert.equal((await store.totals('c-pipe')).reduce((a, r) => a + r.issued, 0), 5);
      });

      it('sent together with its predecessor: lands after it, or is refused and writes nothing', async (t) => {
        if (!store.pipelining) return t.skip(why);
        const s0 = await store.loadSeries('c-pipe-together', 1);
        const first = await planOn(s0, [alloc(2)], 'c-pipe-together-1');
        const second = await planOn(first.predicted, [alloc(3)], 'c-pipe-together-2');
        const [a, b] = await Promise.all([store.commit(first.commit), store.commit(second.commit)]);
        assert.equal(a.status, 'committed');
        const loaded = await store.loadSeries('c-pipe-together', 1);
        assert.equal(loaded.hwm, b.status === 'committed' ? 5 : 2);
        assert.equal((await verify(store, 'c-pipe-together')).valid, true);
      });

      it('never lands when its predecessor lost to another writer (one write since the base)', async (t) => {
        if (!store.pipelining) return t.skip(why);
        const s0 = await store.loadSeries('c-pipe-lost', 1);
        const mine = await planOn(s0, [alloc(2)], 'c-pipe-lost-mine');
        const next = await planOn(mine.predicted, [alloc(1)], 'c-pipe-lost-next');
        await apply(store, s0, [alloc(5, B)], 'c-pipe-lost-other');
        // Both sent at once, as a pipeline does: the second is already on its way when the first fails.
        const [a, b] = await Promise.all([store.commit(mine.commit), store.commit(next.commit)]);
        assert.equal(a.status, 'conflict');
        assert.equal(b.status, 'conflict', 'planned on a batch that never landed');
        const loaded = await store.loadSeries('c-pipe-lost', 1);
        assert.equal(loaded.hwm, 5, "only the other writer's batch is stored");
        assert.equal((await store.readEvents('c-pipe-lost', 0, 100)).length, 1);
      });

      it('never lands when another writer wrote after its predecessor', async (t) => {
        if (!store.pipelining) return t.skip(why);
        const s0 = await store.loadSeries('c-pipe-after', 1);
        const mine = await planOn(s0, [alloc(2)], 'c-pipe-after-mine');
        const next = await planOn(mine.predicted, [alloc(1)], 'c-pipe-after-next');
        const landed = await store.commit(mine.commit);
        assert.equal(landed.status, 'committed');
        await apply(store, { ...mine.commit.next, version: landed.status === 'committed' ? landed.version : '' }, [alloc(4, B)], 'c-pipe-after-other');
        assert.equal((await store.commit(next.commit)).status, 'conflict');
        const loaded = await store.loadSeries('c-pipe-after', 1);
        assert.equal(loaded.hwm, 6);
        assert.equal((await verify(store, 'c-pipe-after')).valid, true);
      });
    });

    it('keeps a confirmed number confirmed, across a restart', async () => {
      const s0 = await store.loadSeries('c-confirm', 1);
      const { state } = await apply(store, s0, [alloc(3)]);
      const records = await store.lookupNumbers('c-confirm', [2]);
      const plan = planBatch(state, [{ kind: 'confirm', sequenceNumber: 2, ...A }], records, {
        batchId: 'c-confirm-1',
        node: 'contract',
        now: Date.now(),
        gapPolicy: 'lowest-first',
        settings: { simulatedEnabled: true },
      });
      assert.ok(plan.commit);
      assert.equal((await store.commit(plan.commit)).status, 'committed');
      store = await f.reopen(store);
      const after = await store.lookupNumbers('c-confirm', [1, 2]);
      assert.equal(after.get(2)?.status, 'confirmed');
      assert.equal(after.get(2)?.siteId, A.siteId);
      assert.equal(after.get(1)?.status, 'issued');
      assert.equal((await verify(store, 'c-confirm')).valid, true);
    });

    it('looks up holders of counter numbers, and released, refilled and void numbers', async () => {
      let { state } = await apply(store, await store.loadSeries('c-lookup', 1), [alloc(5), alloc(5, B)]);
      const found = await store.lookupNumbers('c-lookup', [1, 5, 6, 10, 11]);
      assert.deepEqual(pick(found.get(1)), ['issued', 'site-1', 'partition-a']);
      assert.deepEqual(pick(found.get(5)), ['issued', 'site-1', 'partition-a']);
      assert.deepEqual(pick(found.get(6)), ['issued', 'site-2', 'partition-b']);
      assert.deepEqual(pick(found.get(10)), ['issued', 'site-2', 'partition-b']);
      assert.equal(found.has(11), false, 'a number above the HWM was never issued');
      // Each number names its allocation: the seq of the event that gave it out.
      assert.deepEqual([1, 5, 6, 10].map((n) => found.get(n)?.grant), [1, 1, 2, 2]);

      ({ state } = await apply(store, state, [{ kind: 'release', sequenceNumber: 3, ...A, reason: 'r1' }]));
      let after = await store.lookupNumbers('c-lookup', [3]);
      assert.deepEqual(pick(after.get(3)), ['open', 'site-1', 'partition-a']);
      assert.equal(after.get(3)?.reason, 'r1');
      assert.equal(after.get(3)?.grant, 1, 'a released number remembers the allocation that held it');
      assert.deepEqual((await store.loadSeries('c-lookup', 1)).openGaps.map((g) => g.number), [3]);

      ({ state } = await apply(store, state, [alloc(1, B)]));
      after = await store.lookupNumbers('c-lookup', [3]);
      assert.deepEqual(pick(after.get(3)), ['refilled', 'site-2', 'partition-b']);
      assert.equal(after.get(3)?.grant, state.eventSeq, 'a refilled number belongs to the refill event');
      assert.deepEqual(after.get(3)?.previous, { grant: 1, reason: 'r1', ...A, invoiceType: 'on-cycle' }, 'and remembers the release before it');
      const releaseEvent = (await store.readEvents('c-lookup', 0, 100)).find((e) => e.type === 'release');
      assert.equal(releaseEvent?.allocation, 1, 'the release event names the allocation it acted on, read back from the store');
      assert.deepEqual((await store.loadSeries('c-lookup', 1)).openGaps, []);
      assert.equal((await verify(store, 'c-lookup')).valid, true);
    });

    it('lists open, void and refilled numbers and keeps totals per site, partition and type', async () => {
      let { state } = await apply(store, await store.loadSeries('c-list', 1), [alloc(4)]);
      ({ state } = await apply(store, state, [
        { kind: 'release', sequenceNumber: 2, ...A, reason: 'x' },
        { kind: 'release', sequenceNumber: 4, ...A, reason: 'y' },
      ]));
      ({ state } = await apply(store, state, [alloc(1, B)]));
      const open = await store.listNumbers({ series: 'c-list', statuses: ['open'], limit: 10 });
      assert.deepEqual(open.map((r) => r.number), [4]);
      const refilled = await store.listNumbers({ series: 'c-list', statuses: ['refilled'], limit: 10 });
      assert.deepEqual(refilled.map((r) => r.number), [2]);
      const both = await store.listNumbers({ series: 'c-list', statuses: ['open', 'refilled'], limit: 1 });
      assert.equal(both.length, 1, 'the limit applies');
      const totals = await store.totals('c-list');
      const a = totals.find((t) => t.siteId === 'site-1');
      const b = totals.find((t) => t.siteId === 'site-2');
      assert.deepEqual([a?.issued, a?.released, a?.refilled], [4, 2, 0]);
      assert.deepEqual([b?.issued, b?.released, b?.refilled], [1, 0, 1]);
      assert.equal(state.counters.refilled, 1);
    });

    it('pages through numbers of many chunks in order, without overlap or holes', async () => {
      // Released numbers in 20 different thousand-number chunks (more than one read's worth).
      let { state } = await apply(store, await store.loadSeries('c-pages', 1), Array.from({ length: 20 }, () => alloc(1000)));
      const released = [3, 999, 1000, ...Array.from({ length: 19 }, (_, k) => (k + 1) * 1000 + 7)];
      ({ state } = await apply(store, state, released.map((n) => ({ kind: 'release', sequenceNumber: n, ...A, reason: 'p' }) as Op)));
      ({ state } = await apply(store, state, [{ ...alloc(2) }]));
      const seen: number[] = [];
      let after: number | undefined;
      for (let page = 0; page < 20; page++) {
        const rows = await store.listNumbers({ series: 'c-pages', statuses: ['open', 'refilled'], limit: 3, afterNumber: after });
        if (rows.length === 0) break;
        seen.push(...rows.map((r) => r.number));
        after = rows[rows.length - 1]?.number;
      }
      assert.deepEqual(seen, released, 'refilled (3, 999) and open numbers, each once, ascending');
      assert.equal(state.counters.refilled, 2);
    });

    it('reads events in pages and filters them by number, holder, type and cursor', async () => {
      let { state } = await apply(store, await store.loadSeries('c-events', 1), [alloc(10), alloc(1, B), alloc(1)]);
      ({ state } = await apply(store, state, [{ kind: 'release', sequenceNumber: 5, ...A, reason: 'z' }]));
      const page1 = await store.readEvents('c-events', 0, 2);
      const page2 = await store.readEvents('c-events', page1[1]?.seq ?? 0, 10);
      assert.deepEqual([...page1, ...page2].map((e) => e.seq), [1, 2, 3, 4]);

      const q = { series: 'c-events', order: 'desc' as const, limit: 50 };
      assert.deepEqual((await store.queryEvents({ ...q, number: 5 })).map((e) => e.type), ['release', 'issue']);
      assert.deepEqual((await store.queryEvents({ ...q, siteId: 'site-2' })).map((e) => e.seq), [2]);
      assert.deepEqual((await store.queryEvents({ ...q, type: 'release' })).map((e) => e.seq), [4]);
      assert.deepEqual((await store.queryEvents({ ...q, cursor: 3 })).map((e) => e.seq), [2, 1]);
      assert.deepEqual((await store.queryEvents({ ...q, order: 'asc', cursor: 2, limit: 1 })).map((e) => e.seq), [3]);
      assert.equal((await store.queryEvents({ ...q, from: Date.now() + 60_000 })).length, 0);
      assert.equal(state.eventSeq, 4);
    });

    it('keeps who caused each event, across a reopen; events without one read as null', async () => {
      const by = (actor: string | null, op: Op): Op => ({ ...op, actor }) as Op;
      const { state: s1, commit: first } = await apply(store, await store.loadSeries('c-actors', 1), [by('billing-a', alloc(3)), alloc(1, B), by('system:expiry', alloc(1))]);
      const { state, commit: second } = await apply(store, s1, [
        by('billing-b', { kind: 'release', sequenceNumber: 2, ...A, reason: 'cancelled' }),
        { kind: 'release', sequenceNumber: 4, ...B, reason: 'cancelled' },
      ]);
      const planned = [...first.events, ...second.events];
      assert.deepEqual(planned.map((e) => e.actor), ['billing-a', null, 'system:expiry', 'billing-b', null]);
      store = await f.reopen(store);
      assert.deepEqual(await store.readEvents('c-actors', 0, 100), planned);
      const newest = await store.queryEvents({ series: 'c-actors', order: 'desc', limit: 10 });
      assert.deepEqual(newest.map((e) => e.actor), [null, 'billing-b', 'system:expiry', null, 'billing-a']);
      assert.equal((await verify(store, 'c-actors')).valid, true);
      assert.equal(state.eventSeq, 5);
    });

    it('pages newest-first and oldest-first through many batches', async () => {
      let state = await store.loadSeries('c-many', 1);
      for (let i = 0; i < 40; i++) ({ state } = await apply(store, state, [alloc(1, i % 10 === 0 ? B : A), alloc(2)]));
      const q = { series: 'c-many', order: 'desc' as const, limit: 5 };
      assert.deepEqual((await store.queryEvents(q)).map((e) => e.seq), [80, 79, 78, 77, 76]);
      assert.deepEqual((await store.queryEvents({ ...q, cursor: 76 })).map((e) => e.seq), [75, 74, 73, 72, 71]);
      assert.deepEqual((await store.queryEvents({ ...q, siteId: 'site-2' })).map((e) => e.seq), [61, 41, 21, 1]);
      assert.deepEqual((await store.queryEvents({ ...q, order: 'asc', cursor: 77 })).map((e) => e.seq), [78, 79, 80]);
      assert.deepEqual((await store.readEvents('c-many', 41, 3)).map((e) => e.seq), [42, 43, 44]);
      const all = await store.readEvents('c-many', 0, 1000);
      assert.ok(all.length >= 16 && all.every((e, i) => e.seq === i + 1), 'a page is contiguous from the start');
    });

    it('persists settings changed by a commit', async () => {
      const s0 = await store.loadSeries('c-settings', 1);
      await apply(store, s0, [{ kind: 'setting', key: 'simulatedEnabled', value: false, reason: 'contract' }]);
      assert.equal((await store.loadSettings()).simulatedEnabled, false);
    });

    it('keeps every commit across a close and reopen', async () => {
      const { state } = await apply(store, await store.loadSeries('c-durable', 1), [alloc(7)]);
      store = await f.reopen(store);
      const loaded = await store.loadSeries('c-durable', 1);
      assert.equal(loaded.hwm, 7);
      assert.equal(loaded.lastHash, state.lastHash);
      assert.equal((await verify(store, 'c-durable')).valid, true);
    });

    it('looks up numbers spread over more chunks than one transaction may read', async () => {
      let state = await store.loadSeries('c-spread', 1);
      for (let i = 0; i < 70; i++) ({ state } = await apply(store, state, [alloc(1000, i % 2 ? B : A)]));
      const wanted = Array.from({ length: 70 }, (_, i) => i * 1000 + 500);
      ({ state } = await apply(store, state, [{ kind: 'release', sequenceNumber: 69_500, ...B, reason: 'r' }]));
      const found = await store.lookupNumbers('c-spread', wanted);
      assert.equal(found.size, 70);
      assert.deepEqual(pick(found.get(500)), ['issued', 'site-1', 'partition-a']);
      assert.deepEqual(pick(found.get(1500)), ['issued', 'site-2', 'partition-b']);
      assert.deepEqual(pick(found.get(69_500)), ['open', 'site-2', 'partition-b']);
    });

    it('keeps a closed series closed, with its gaps void, across a restart; series names with : and @ stay apart', async () => {
      let { state } = await apply(store, await store.loadSeries('c-close:p@2026', 1), [alloc(4)]);
      ({ state } = await apply(store, state, [{ kind: 'release', sequenceNumber: 2, ...A, reason: 'cancelled' }]));
      await apply(store, await store.loadSeries('c-close:p@2027', 1), [alloc(1)]);
      ({ state } = await apply(store, state, [{ kind: 'close', reason: 'period 2026 ended' }]));
      assert.ok(state.closedAt !== null);
      store = await f.reopen(store);
      const loaded = await store.loadSeries('c-close:p@2026', 1);
      assert.equal(loaded.closedAt, state.closedAt);
      assert.deepEqual(loaded.openGaps, []);
      assert.equal(loaded.counters.voided, 1);
      assert.deepEqual(pick((await store.lookupNumbers('c-close:p@2026', [2])).get(2)), ['void', 'site-1', 'partition-a']);
      const [close] = await store.queryEvents({ series: 'c-close:p@2026', type: 'close', order: 'desc', limit: 5 });
      assert.deepEqual([close?.first, close?.last, close?.reason], [1, 4, 'period 2026 ended']);
      assert.equal((await verify(store, 'c-close:p@2026')).valid, true);
      const other = await store.loadSeries('c-close:p@2027', 1);
      assert.deepEqual([other.hwm, other.closedAt], [1, null]);
      assert.ok((await store.listSeries()).includes('c-close:p@2027'));
    });

    it('refuses every batch inside its commit while maintenance is on, one planned before the switch too; the switch off passes', async () => {
      const before = await store.loadSeries('c-maint', 1);
      const planned = planBatch(before, [alloc(2)], new Map(), { batchId: 'c-maint-early', node: 'contract', now: Date.now(), gapPolicy: 'lowest-first', settings: { simulatedEnabled: true } });
      assert.ok(planned.commit);
      // Another instance switches maintenance on in another series.
      const control = await store.loadSeries('c-maint-control', 1);
      const on = await apply(store, control, [{ kind: 'maintenance', enabled: true, reason: 'migration' }]);
      assert.equal(on.commit.maintenance, true);
      assert.equal((await store.loadSettings()).maintenance, true);
      await assert.rejects(store.commit(planned.commit), (e: unknown) => e instanceof MaintenanceError, 'planned before the switch, committed after it: refused');
      // Re-sent: refused again, or a conflict where the refusal fenced the batch off (PostgreSQL).
      const again = await store.commit(planned.commit).catch((e: unknown) => e);
      assert.ok(again instanceof MaintenanceError || (again as { status?: string }).status === 'conflict', `re-sent: ${String(again)}`);
      const still = await store.loadSeries('c-maint', 1);
      assert.equal(still.hwm, before.hwm, 'nothing of it was written');
      const events = await store.readEvents('c-maint-control', 0, 10);
      assert.match(events[events.length - 1]?.reason ?? '', /^maintenance=on: migration$/, 'the switch is in the trail');
      // The switch off passes, and so does a new plan after it.
      await apply(store, on.state, [{ kind: 'maintenance', enabled: false, reason: 'done' }]);
      assert.equal((await store.loadSettings()).maintenance ?? false, false);
      const after = await apply(store, still, [alloc(2)]);
      assert.equal(after.state.hwm, before.hwm + 2);
    });

    it('a snapshot taken once maintenance is switched on holds every batch acknowledged, under concurrent commits', async () => {
      let maintenance = false;
      const acknowledged = new Map<string, number>();
      const writer = async (series: string) => {
        let state = await store.loadSeries(series, 1);
        for (let i = 0; i < 400 && !maintenance; i++) {
          const plan = planBatch(state, [alloc(1)], new Map(), { batchId: `c-gate-${series}-${i}`, node: 'contract', now: Date.now(), gapPolicy: 'lowest-first', settings: { simulatedEnabled: true } });
          assert.ok(plan.commit);
          let r: CommitResult;
          try {
            r = await store.commit(plan.commit);
          } catch (error) {
            if (error instanceof MaintenanceError) return;
            throw error;
          }
          assert.ok(r.status === 'committed', 'one writer per series: never a conflict');
          state = { ...plan.commit.next, version: r.version };
          acknowledged.set(series, state.hwm);
        }
      };
      const writers = Array.from({ length: 8 }, (_, i) => writer(`c-gate-${i}`));
      await new Promise((r) => setTimeout(r, 150));
      const control = await store.loadSeries('c-gate-control', 1);
      const on = await apply(store, control, [{ kind: 'maintenance', enabled: true, reason: 'snapshot under load' }]);
      maintenance = true;
      const snapshot = await store.openSnapshot();
      try {
        await Promise.all(writers);
        assert.ok(acknowledged.size > 0, 'batches were committed before the switch');
        for (const [series, hwm] of acknowledged) {
          assert.equal((await snapshot.series(series))?.state.hwm, hwm, `${series}: every number acknowledged is in the snapshot, and nothing after it`);
        }
      } finally {
        await snapshot.close();
      }
      await apply(store, on.state, [{ kind: 'maintenance', enabled: false, reason: 'done' }]);
    });

    it('keeps a legacy import: its numbers are issued to the legacy holder, its gaps void, the counter goes on after it', async () => {
      const s0 = await store.loadSeries('c-import', 1);
      const { state } = await apply(store, s0, [{ kind: 'import', last: 2500, gaps: [{ number: 7, reason: 'voided' }, { number: 2400, reason: 'lost' }], reason: 'legacy export' }]);
      const found = await store.lookupNumbers('c-import', [1, 7, 1500, 2400, 2500]);
      assert.deepEqual([1, 1500, 2500].map((n) => [found.get(n)?.status, found.get(n)?.siteId, found.get(n)?.grant]), [['issued', 'legacy', 1], ['issued', 'legacy', 1], ['issued', 'legacy', 1]]);
      assert.deepEqual([7, 2400].map((n) => found.get(n)?.status), ['void', 'void']);
      const next = await apply(store, state, [alloc(2)]);
      assert.equal(next.state.hwm, 2502);
      const after = await store.lookupNumbers('c-import', [2501, 2502, 2503, 2600]);
      assert.deepEqual([2501, 2502, 2503, 2600].map((n) => after.get(n)?.siteId ?? null), [A.siteId, A.siteId, null, null], 'after the HWM: no holder');
      assert.equal((await verify(store, 'c-import')).valid, true);
    });

    it('keeps an archived series as its mark and archive event only; every op on it is refused; a series not archived is never purged', async () => {
      const name = 'c-archive@2025';
      let { state } = await apply(store, await store.loadSeries(name, 1), [alloc(1500)]);
      ({ state } = await apply(store, state, [{ kind: 'release', sequenceNumber: 1200, ...A, reason: 'cancelled' }]));
      ({ state } = await apply(store, state, [{ kind: 'confirm', sequenceNumber: 3, ...A }]));
      ({ state } = await apply(store, state, [{ kind: 'close', reason: 'period 2025 ended' }]));
      const bystander = (await apply(store, await store.loadSeries('c-archive@2026', 1), [alloc(3)])).state;
      assert.equal(await store.purgeArchived(name), 0, 'not archived: nothing is purged');
      assert.equal((await store.readEvents(name, 0, 100)).length, state.eventSeq);
      const head = { seq: state.eventSeq, hash: state.lastHash };
      const op: Op = { kind: 'archive', file: '/archives/c-archive@2025.seqd-archive', sha256: 'a'.repeat(64), headSeq: head.seq, headHash: head.hash, reason: 'retention' };
      ({ state } = await apply(store, state, [op]));
      let removed = 0;
      for (let n = await store.purgeArchived(name); n > 0; n = await store.purgeArchived(name)) removed += n;
      assert.ok(removed >= 2, `the archived events and number records went (${removed})`);
      store = await f.reopen(store);
      const loaded = await store.loadSeries(name, 1);
      assert.deepEqual(loaded.archived, state.archived);
      assert.deepEqual([loaded.hwm, loaded.eventSeq, loaded.closedAt], [1500, head.seq + 1, state.closedAt]);
      const events = await store.readEvents(name, 0, 100);
      assert.deepEqual(events.map((e) => [e.seq, e.type, e.prevHash]), [[head.seq + 1, 'archive', head.hash]]);
      assert.equal((await store.lookupNumbers(name, [3, 1200])).size, 0, 'the number records left with the archive');
      assert.equal((await store.totals(name)).length > 0, true, 'the totals stay: the final report');
      const v = new ChainVerifier(name, 1, { mark: loaded.archived ?? assert.fail('no mark'), hwm: loaded.hwm, voided: loaded.counters.voided });
      for (const e of events) v.push(e);
      assert.equal(v.finish(loaded).valid, true);
      const refused = planBatch(loaded, [alloc(1), { kind: 'release', sequenceNumber: 3, ...A, reason: 'x' }], new Map(), {
        batchId: 'contract-archived',
        node: 'contract',
        now: Date.now(),
        gapPolicy: 'lowest-first',
        settings: { simulatedEnabled: true },
      });
      assert.equal(refused.commit, null);
      assert.deepEqual(refused.outcomes.map((o) => (o.ok ? 'ok' : o.error.code)), ['SERIES_ARCHIVED', 'SERIES_ARCHIVED']);
      const other = await store.loadSeries('c-archive@2026', 1);
      assert.deepEqual([other.eventSeq, other.hwm, other.archived ?? null], [bystander.eventSeq, 3, null]);
      assert.equal((await store.readEvents('c-archive@2026', 0, 100)).length, bystander.eventSeq);
    });

    it('purges an archived series larger than one page, a page per call, leaving the archive event', async (t) => {
      if (store.kind === 'etcd') {
        t.skip('etcd: one transaction cannot hold this history (its per-transaction limits), and a thousand batches would cost half a minute: its paging past one page (1,000 keys) is not exercised');
        return;
      }
      const name = 'c-archive-big';
      // 6,000 void numbers (every other one), each gap its own release and void event: 12,001 events.
      const gaps = Array.from({ length: 6000 }, (_, i) => ({ number: 2 * i + 2, reason: `gap ${i}` }));
      let state = (await apply(store, await store.loadSeries(name, 1), [{ kind: 'import', last: 12_001, gaps, reason: 'legacy' }])).state;
      ({ state } = await apply(store, state, [{ kind: 'close', reason: 'over' }]));
      ({ state } = await apply(store, state, [{ kind: 'archive', file: 'big', sha256: 'b'.repeat(64), headSeq: state.eventSeq, headHash: state.lastHash, reason: 'retention' }]));
      const calls: number[] = [];
      for (let n = await store.purgeArchived(name); n > 0; n = await store.purgeArchived(name)) calls.push(n);
      assert.ok(calls.length > 2, `several pages: ${calls.join(', ')}`);
      assert.equal(calls.reduce((a, b) => a + b, 0), state.eventSeq - 1 + 6000);
      assert.deepEqual((await store.readEvents(name, 0, 10)).map((e) => e.type), ['archive']);
      assert.deepEqual(await store.listNumbers({ series: name, statuses: ['open', 'void', 'refilled', 'confirmed'], limit: 10 }), []);
    });

    it('reports itself healthy', async () => {
      const h = await store.health();
      assert.equal(h.healthy, true);
      assert.equal(h.kind, store.kind);
    });

    // Last: it leaves the store in maintenance for good.
    it('a store marked migrated away never leaves maintenance: the switch off is refused inside the commit', async () => {
      const control = await store.loadSeries('c-moved', 1);
      const on = await apply(store, control, [{ kind: 'maintenance', enabled: true, reason: 'migrating', migratedTo: 'etcd:new-cluster' }]);
      assert.equal(on.commit.migratedTo, 'etcd:new-cluster');
      const settings = await store.loadSettings();
      assert.deepEqual([settings.maintenance, settings.migratedTo], [true, 'etcd:new-cluster']);
      const off = planBatch(on.state, [{ kind: 'maintenance', enabled: false, reason: 'by mistake' }], new Map(), { batchId: 'c-moved-off', node: 'contract', now: Date.now(), gapPolicy: 'lowest-first', settings: { simulatedEnabled: true } });
      assert.ok(off.commit);
      await assert.rejects(store.commit(off.commit), (e: unknown) => e instanceof MaintenanceError && /moved to etcd:new-cluster/.test(e.message));
      assert.equal((await store.loadSettings()).maintenance, true, 'still in maintenance');
      const allocation = planBatch(await store.loadSeries('c-moved-data', 1), [alloc(1)], new Map(), { batchId: 'c-moved-alloc', node: 'contract', now: Date.now(), gapPolicy: 'lowest-first', settings: { simulatedEnabled: true } });
      assert.ok(allocation.commit);
      await assert.rejects(store.commit(allocation.commit), MaintenanceError);
    });
  });
}

function pick(r: NumberRecord | undefined): [string, string, string] | undefined {
  return r ? [r.status, r.siteId, r.partitionId] : undefined;
}
