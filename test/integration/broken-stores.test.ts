import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkHistory, type HistoryOp, type TrailEvent } from '../helpers/history-checker.js';
import { http, startTestServer } from '../helpers/seqd-server.js';
import type { SequenceStore } from '../../src/storage/sequence-store.js';
import type { CommitPlan } from '../../src/domain/planner.js';

// The history checker is trusted because it fails on implementations broken on purpose: seqd runs
// on a real SQLite store wrapped to break one guarantee, under concurrent keyed load, and the
// checker must report it; the same load on the unwrapped store must pass.

const CLIENTS = 8;
const REQUESTS = 25;

interface Next {
  numbers: number[];
  allocation: string;
  refilled: number[];
  replayed?: boolean;
}

/** Keyed `next` calls from concurrent clients, each recorded with its send and answer times. */
async function load(urls: readonly string[]): Promise<HistoryOp[]> {
  const ops: HistoryOp[] = [];
  const t0 = performance.now();
  const client = async (id: number) => {
    for (let i = 0; i < REQUESTS; i++) {
      const key = `b${id}-${i}`;
      const start = performance.now() - t0;
      const r = await http<Next>(urls[id % urls.length] ?? '', 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', requestId: key });
      const ok = r.status === 200;
      ops.push({
        kind: 'next',
        client: id,
        key,
        start,
        end: performance.now() - t0,
        outcome: ok ? 'ok' : r.status === 503 ? 'unknown' : 'failed',
        numbers: ok ? r.body.numbers : [],
        allocation: ok ? r.body.allocation : undefined,
        refilled: ok ? r.body.refilled : undefined,
        replayed: ok ? r.body.replayed : undefined,
      });
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
  return ops;
}

async function trailOf(url: string): Promise<TrailEvent[]> {
  const trail: TrailEvent[] = [];
  for (let cursor = 0; ; ) {
    const page = await http<{ events: TrailEvent[]; nextCursor: number | null }>(url, 'GET', `/api/v1/audit?order=asc&limit=1000&cursor=${cursor}`);
    trail.push(...page.body.events);
    if (page.body.nextCursor === null) return trail;
    cursor = page.body.nextCursor;
  }
}

/**
 * The problems the checker finds in a keyed load on two seqd instances sharing one SQLite file,
 * each over `wrap(store)` (two writers: their commits conflict, which the compare must settle).
 */
async function problemsUnder(wrap?: (store: SequenceStore) => SequenceStore): Promise<{ problems: string[]; acknowledged: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-broken-'));
  const options = wrap ? { wrapStore: wrap } : {};
  const a = await startTestServer({}, dir, options);
  const b = await startTestServer({}, dir, options);
  try {
    const ops = await load([a.url, b.url]);
    return { problems: checkHistory(ops, await trailOf(a.url)), acknowledged: ops.filter((o) => o.outcome === 'ok').length };
  } finally {
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The store with its `commit` replaced; every other member is the store's own. */
function withCommit(store: SequenceStore, commit: (plan: CommitPlan, real: SequenceStore['commit']) => ReturnType<SequenceStore['commit']>): SequenceStore {
  const real = store.commit.bind(store);
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'commit') return (plan: CommitPlan) => commit(plan, real);
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('the history checker against stores broken on purpose', () => {
  it('passes the same load on the real store (the control)', async () => {
    const { problems, acknowledged } = await problemsUnder();
    assert.deepEqual(problems, []);
    assert.equal(acknowledged, CLIENTS * REQUESTS);
  });

  it('catches a store that acknowledges a commit before it lands (and one in five never does)', async () => {
    let n = 0;
    const { problems } = await problemsUnder((store) =>
      withCommit(store, (plan, real) => {
        n++;
        // Answered as committed at once, on the version the commit would have made.
        if (n % 5 === 0) return Promise.resolve({ status: 'committed', version: String(Number(plan.baseVersion) + 1) });
        return real(plan);
      }),
    );
    assert.ok(problems.some((p) => /told to two requests/.test(p)), `no number given twice found:\n${problems.slice(0, 3).join('\n')}`);
  });

  it('catches a store that skips the compare: a commit planned on an outdated state is answered as committed', async () => {
    let lost = 0;
    const { problems } = await problemsUnder((store) =>
      withCommit(store, async (plan, real) => {
        const result = await real(plan);
        if (result.status === 'committed') return result;
        // Another writer moved the series: a store without the compare would have written over it.
        lost++;
        return { status: 'committed', version: String(Number(plan.baseVersion) + 1) };
      }),
    );
    assert.ok(lost > 0, 'the two instances never conflicted: the test proves nothing');
    assert.ok(problems.some((p) => /told to two requests/.test(p)), `no number given twice found (${lost} conflicts):\n${problems.slice(0, 3).join('\n')}`);
  });
});
