import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { BatchTooLargeError, OutcomeUnknownError, StoreUnavailableError } from '../../src/domain/errors/index.js';
import type { CommitPlan } from '../../src/domain/planner.js';
import type { Op } from '../../src/domain/types.js';
import { SeriesWorker, type TimedOutcome } from '../../src/service/series-worker.js';
import type { SequenceStore } from '../../src/storage/sequence-store.js';
import { SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';

// The group-commit worker driven directly on real SQLite files, with a thin observing wrapper
// around the store: the schedules below are the ones a review found unsafe.

const dirs: string[] = [];
const stores: SqliteStore[] = [];
after(async () => {
  for (const s of stores) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function sqlite(dir?: string): SqliteStore {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'seqd-worker-'));
  if (!dir) dirs.push(d);
  const s = new SqliteStore({ dataDir: d });
  stores.push(s);
  return s;
}

function worker(store: SequenceStore, node = 'n1', series = 'global'): SeriesWorker {
  let settings = { simulatedEnabled: true };
  return new SeriesWorker({
    series,
    start: 1,
    store,
    node,
    gapPolicy: 'lowest-first',
    settings: () => settings,
    onSettings: (s) => (settings = s),
  });
}

const holder = { siteId: 'site-1', partitionId: 'partition-a' } as const;
const alloc: Op = { kind: 'allocate', ...holder, invoiceType: 'on-cycle', count: 1 };

function numbersOf(r: TimedOutcome): number[] {
  assert.ok(r.outcome.ok, JSON.stringify(r.outcome));
  assert.equal(r.outcome.kind, 'allocate');
  return r.outcome.kind === 'allocate' ? r.outcome.numbers : [];
}

describe('series worker: one plan at a time, refusals only from current state', () => {
  it('never plans two batches on one base: a batch waiting on lookups holds the pipeline (item 6)', async () => {
    const inner = sqlite();
    const submitted: CommitPlan[] = [];
    // Lookups take a while (as on etcd): the batch holding a release waits on them.
    const store = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'lookupNumbers') {
          return async (...args: Parameters<SqliteStore['lookupNumbers']>) => {
            await sleep(30);
            return target.lookupNumbers(...args);
          };
        }
        if (prop === 'commit') {
          return (plan: CommitPlan) => {
            submitted.push(plan);
            return target.commit(plan);
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const w = worker(store);
    await w.load();
    const first = numbersOf(await w.submit(alloc));
    assert.deepEqual(first, [1]);
    // One tick: a release (needs a lookup) heading a queue long enough to be cut in two.
    const release = w.submit({ kind: 'release', sequenceNumber: 1, ...holder, reason: 'test' });
    const allocs = Array.from({ length: 11 }, () => w.submit(alloc));
    const rel = await release;
    assert.ok(rel.outcome.ok, JSON.stringify(rel.outcome));
    const got = (await Promise.all(allocs)).map(numbersOf).flat();

    // Every plan sent to the store continues the one sent before it (a version-only store would
    // otherwise take a plan made on a stale base).
    for (let i = 1; i < submitted.length; i++) {
      const prev = submitted[i - 1] as CommitPlan;
      const cur = submitted[i] as CommitPlan;
      assert.equal(cur.baseHash, prev.next.lastHash, `plan ${i} was made on the same base as an earlier plan`);
    }
    // And no number was planned twice in plans that were sent.
    const issued = new Map<number, number>();
    for (const p of submitted) {
      for (const e of p.events) {
        if ((e.type === 'issue' || e.type === 'refill') && e.first !== null && e.last !== null) {
          for (let n = e.first; n <= e.last; n++) issued.set(n, (issued.get(n) ?? 0) + 1);
        }
      }
    }
    assert.equal(issued.get(1), 2, 'number 1: issued, then refilled once after its release');
    for (const [n, times] of issued) if (n !== 1) assert.equal(times, 1, `number ${n} planned ${times} times`);
    // Requests are served in arrival order: the release comes first, so the first allocation refills 1.
    assert.deepEqual(got, [1, ...Array.from({ length: 10 }, (_, i) => i + 2)]);
  });

  it('checks the stored state before refusing: a number issued by another committer is found (item 4)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seqd-worker-two-'));
    dirs.push(dir);
    const a = worker(sqlite(dir), 'a');
    const b = worker(sqlite(dir), 'b');
    await a.load();
    await b.load();
    assert.deepEqual(numbersOf(await a.submit(alloc)), [1]);
    assert.deepEqual(numbersOf(await b.submit(alloc)), [2]);
    // A's cached HWM is 1: it must not answer "never issued" for 2 without looking.
    const confirmed = await a.submit({ kind: 'confirm', sequenceNumber: 2, ...holder });
    assert.ok(confirmed.outcome.ok, `confirm of 2 through a: ${JSON.stringify(confirmed.outcome)}`);
    // B takes 3 and releases it; A has never seen either commit.
    assert.deepEqual(numbersOf(await b.submit(alloc)), [3]);
    const rel = await b.submit({ kind: 'release', sequenceNumber: 3, ...holder, reason: 'test' });
    assert.ok(rel.outcome.ok);
    // A's cache still shows 3 held by nobody it knows: the release must be seen, not refused.
    const again = await a.submit({ kind: 'release', sequenceNumber: 3, ...holder, reason: 'test' });
    assert.equal(again.outcome.ok, false);
    if (!again.outcome.ok) assert.equal(again.outcome.error.code, 'NUMBER_ALREADY_RELEASED');
    assert.deepEqual(numbersOf(await a.submit(alloc)), [3], 'a refills the gap b left');
  });
});

describe('series worker: an unknown outcome is said so, then settled (item 5)', () => {
  /**
   * A store that loses the answer of the next `lose` commits: after writing them (`after`), or
   * before (`before`: as a request that never reached the leader but might still).
   */
  function lossy(inner: SqliteStore, when: 'after' | 'before') {
    let lose = 0;
    /** The commit after a lost one (the re-send that settles it) waits for this, when set. */
    let hold: Promise<void> | null = null;
    const store = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'commit') {
          return async (plan: CommitPlan) => {
            if (lose > 0) {
              lose--;
              if (when === 'after') await target.commit(plan);
              throw new OutcomeUnknownError('reply lost (test)');
            }
            if (hold) {
              const h = hold;
              hold = null;
              await h;
            }
            return target.commit(plan);
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    return { store, loseNext: (n: number) => (lose = n), holdNextUntil: (p: Promise<void>) => (hold = p) };
  }

  async function settle(w: SeriesWorker): Promise<void> {
    for (let i = 0; i < 100 && w.unresolvedCount > 0; i++) await sleep(50);
    assert.equal(w.unresolvedCount, 0, 'the unknown outcome was settled');
  }

  for (const when of ['after', 'before'] as const) {
    it(`answers OUTCOME_UNKNOWN, and releases the numbers nobody received as undelivered gaps (reply lost ${when} the commit)`, async () => {
      const inner = sqlite();
      const { store, loseNext } = lossy(inner, when);
      const w = worker(store);
      await w.load();
      assert.deepEqual(numbersOf(await w.submit(alloc)), [1]);
      loseNext(1);
      const keyed: Op = { ...alloc, requestId: 'k-unknown' } as Op;
      const [plain, withKey] = await Promise.allSettled([w.submit({ ...alloc, count: 2 } as Op), w.submit(keyed)]);
      for (const r of [plain, withKey]) {
        assert.equal(r.status, 'rejected');
        if (r.status === 'rejected') assert.ok(r.reason instanceof OutcomeUnknownError, String(r.reason));
      }
      await settle(w);
      // Numbers 2 and 3 went to a request that got no answer: now open gaps, audited.
      const gaps = await inner.listNumbers({ series: 'global', statuses: ['open'], limit: 10 });
      assert.deepEqual(gaps.map((g) => [g.number, g.reason]), [[2, 'undelivered'], [3, 'undelivered']]);
      // The keyed one keeps its number for its retry.
      const retry = await w.submit(keyed);
      assert.ok(retry.outcome.ok && retry.outcome.kind === 'allocate' && retry.outcome.replayOf !== undefined);
      assert.deepEqual(retry.outcome.numbers, [4]);
      // The gaps are refilled like any other.
      assert.deepEqual(numbersOf(await w.submit(alloc)), [2]);
    });
  }

  it('settles a batch that did not land (another commit moved the series) without releasing anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seqd-worker-unknown-'));
    dirs.push(dir);
    const { store, loseNext, holdNextUntil } = lossy(sqlite(dir), 'before');
    const other = worker(sqlite(dir), 'other');
    await other.load();
    const w = worker(store);
    await w.load();
    loseNext(1);
    // The other committer moves the series before the re-send that settles the lost batch (the
    // re-send waits for it: a 200 ms head start raced on a busy machine in CI).
    let moved = () => undefined as void;
    holdNextUntil(new Promise<void>((resolve) => (moved = resolve)));
    const lost = w.submit(alloc).catch((e: unknown) => e);
    await sleep(20);
    assert.deepEqual(numbersOf(await other.submit(alloc)), [1]);
    moved();
    assert.ok((await lost) instanceof OutcomeUnknownError);
    await settle(w);
    const gaps = await stores[stores.length - 1]?.listNumbers({ series: 'global', statuses: ['open'], limit: 10 });
    assert.deepEqual(gaps, []);
    assert.deepEqual(numbersOf(await w.submit(alloc)), [2]);
  });
});

describe('series worker: one key, one series (item 3b)', () => {
  it('a request in flight across midnight and its retry in the new period: one allocation, the other answered from it', async () => {
    const inner = sqlite();
    // Commits wait a little, so both batches are planned (key unknown to both) before either lands.
    const slow = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'commit') {
          return async (plan: CommitPlan) => {
            await sleep(30);
            return target.commit(plan);
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const old = worker(slow, 'n1', 'global@2026');
    const current = worker(slow, 'n1', 'global@2027');
    await Promise.all([old.load(), current.load()]);
    const op: Op = { ...alloc, count: 2, requestId: 'midnight' } as Op;
    const outcomes = (await Promise.all([old.submit(op), current.submit(op)])).map((r) => r.outcome);
    const allocated = outcomes.filter((o) => o.ok);
    const redirected = outcomes.filter((o) => !o.ok && o.error.code === 'REQUEST_IN_OTHER_SERIES');
    assert.equal(allocated.length, 1, JSON.stringify(outcomes));
    assert.equal(redirected.length, 1, JSON.stringify(outcomes));
    const hwms = [(await inner.loadSeries('global@2026', 1)).hwm, (await inner.loadSeries('global@2027', 1)).hwm].sort();
    assert.deepEqual(hwms, [0, 2], 'one series took two numbers, the other none');
  });
});

describe('series worker: nothing refused on the strength of a commit that has not landed (item 9)', () => {
  it('allocations pipelined behind a close that fails are served, not refused SERIES_CLOSED', async () => {
    const inner = sqlite();
    let failClose = true;
    let closeCommitting = () => undefined as void;
    const committing = new Promise<void>((resolve) => (closeCommitting = resolve));
    const store = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'commit') {
          return async (plan: CommitPlan) => {
            if (plan.events.some((e) => e.type === 'close')) closeCommitting();
            await sleep(20);
            if (failClose && plan.events.some((e) => e.type === 'close')) {
              failClose = false;
              throw new StoreUnavailableError('disk full (test)');
            }
            return target.commit(plan);
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const w = worker(store);
    await w.load();
    const close = w.submit({ kind: 'close', reason: 'period ended' }).catch((e: unknown) => e);
    await committing; // the close is being committed; these are planned behind it (a sleep raced on a busy machine)
    const allocs = Array.from({ length: 3 }, () => w.submit(alloc));
    assert.ok((await close) instanceof StoreUnavailableError, 'the close failed');
    const got = await Promise.all(allocs);
    for (const r of got) assert.ok(r.outcome.ok, `refused on a close that never landed: ${JSON.stringify(r.outcome)}`);
    assert.equal((await inner.loadSeries('global', 1)).closedAt, null);
  });

  it('a batch too large for one transaction is split and planned again on the stored state, not on its own prediction', async () => {
    const inner = sqlite();
    const landed: CommitPlan[] = [];
    // A store whose transactions hold 8 events at most (etcd's per-transaction limits, made small).
    const store = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'commit') {
          return async (plan: CommitPlan) => {
            if (plan.events.length > 8) throw new BatchTooLargeError(`${plan.events.length} events`);
            const r = await target.commit(plan);
            if (r.status === 'committed') landed.push(plan);
            return r;
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    let conflicts = 0;
    let settings = { simulatedEnabled: true };
    const w = new SeriesWorker({ series: 'global', start: 1, store, node: 'n1', gapPolicy: 'lowest-first', settings: () => settings, onSettings: (x) => (settings = x), onConflict: () => conflicts++ });
    assert.deepEqual(numbersOf(await w.submit(alloc)), [1]);
    const got = (await Promise.all(Array.from({ length: 40 }, () => w.submit(alloc)))).flatMap(numbersOf).sort((a, b) => a - b);
    assert.deepEqual(got, Array.from({ length: 40 }, (_, i) => i + 2));
    assert.equal(conflicts, 0, 'a split batch was planned on the prediction of the batch it was split from');
    assert.ok(landed.every((p) => p.events.length <= 8));
  });

});
