import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, startTestServer, type ErrorBody, type TestServer } from '../helpers/seqd-server.js';

interface GapsPage {
  status: string;
  gaps: { sequenceNumber: number; status: string }[];
  truncated: boolean;
  nextCursor: number | null;
}

const holder = { siteId: 'site-1', partitionId: 'partition-a' };

// Issue 13 (minor): `status=all` meant open and void on the route but also refilled on the
// export, and the route ignored `cursor` (a report past its limit could not be read on).
describe('the gap route and the gap export agree on status, and the route pages', () => {
  let s: TestServer;
  const route = (q: string) => http<GapsPage>(s.url, 'GET', `/api/v1/sequence/gaps?${q}`);
  const exported = async (q: string) =>
    (await (await fetch(`${s.url}/api/v1/sequence/gaps/export?format=ndjson&${q}`)).text())
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { number: number; status: string });
  before(async () => {
    s = await startTestServer();
    await http(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count: 10 });
    for (const n of [2, 4, 6, 8]) await http(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: n, ...holder, reason: 'cancelled' });
    // Refills 2 (lowest first): 2 is refilled, 4, 6 and 8 stay open.
    await http(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });
  });
  after(async () => s.dispose());

  it('each status selects the same numbers on both', async () => {
    const expected: Record<string, [number, string][]> = {
      all: [[2, 'refilled'], [4, 'open'], [6, 'open'], [8, 'open']],
      gaps: [[4, 'open'], [6, 'open'], [8, 'open']],
      open: [[4, 'open'], [6, 'open'], [8, 'open']],
      void: [],
      refilled: [[2, 'refilled']],
    };
    for (const [status, rows] of Object.entries(expected)) {
      const r = await route(`status=${status}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body.gaps.map((g) => [g.sequenceNumber, g.status]), rows, `route, status=${status}`);
      assert.deepEqual((await exported(`status=${status}`)).map((g) => [g.number, g.status]), rows, `export, status=${status}`);
    }
  });

  it('the route still shows open and void gaps by default (status gaps)', async () => {
    const r = await route('');
    assert.deepEqual([r.body.status, r.body.gaps.map((g) => g.sequenceNumber)], ['gaps', [4, 6, 8]]);
  });

  it('pages with cursor: nextCursor names the last number of a truncated page', async () => {
    const first = await route('status=all&limit=3');
    assert.deepEqual([first.body.gaps.map((g) => g.sequenceNumber), first.body.truncated, first.body.nextCursor], [[2, 4, 6], true, 6]);
    const second = await route(`status=all&limit=3&cursor=${first.body.nextCursor ?? ''}`);
    assert.deepEqual([second.body.gaps.map((g) => g.sequenceNumber), second.body.truncated, second.body.nextCursor], [[8], false, null]);
    const exact = await route('status=open&limit=3');
    assert.deepEqual([exact.body.truncated, exact.body.nextCursor], [false, null], 'a page that holds the rest is the last');
    const bad = await http<ErrorBody>(s.url, 'GET', '/api/v1/sequence/gaps?cursor=-1');
    assert.deepEqual([bad.status, bad.body.error.field], [400, 'cursor']);
  });

  it('the API document gives both the same status values, and the route its cursor', async () => {
    type Param = { name: string; schema: { enum?: string[] } };
    const spec = (await (await fetch(`${s.url}/docs/json`)).json()) as { paths: Record<string, { get?: { parameters?: Param[] } }> };
    const params = (path: string) => spec.paths[path]?.get?.parameters ?? [];
    const statusOf = (path: string) => params(path).find((p) => p.name === 'status')?.schema.enum;
    assert.deepEqual(statusOf('/api/v1/sequence/gaps'), ['open', 'void', 'refilled', 'gaps', 'all']);
    assert.deepEqual(statusOf('/api/v1/sequence/gaps/export'), statusOf('/api/v1/sequence/gaps'));
    assert.ok(params('/api/v1/sequence/gaps').some((p) => p.name === 'cursor'));
  });
});
