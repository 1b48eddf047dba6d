import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, startTestServer, type ErrorBody, type TestServer } from '../helpers/seqd-server.js';

interface Case {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  readonly status: number;
  readonly code: string;
  readonly field?: string;
  readonly allowed?: unknown[];
}

const NEXT = '/api/v1/sequence/next';
const REL = '/api/v1/sequence/release';
const ok = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' };
const q = (params: Record<string, string>) => `${NEXT}?${new URLSearchParams(params).toString()}`;

const cases: Case[] = [
  { name: 'malformed JSON', method: 'POST', path: NEXT, body: '{"siteId": "site-1",', status: 400, code: 'VALIDATION_ERROR' },
  { name: 'JSON that is not an object', method: 'POST', path: NEXT, body: '[1,2]', status: 400, code: 'VALIDATION_ERROR' },
  { name: 'empty JSON body', method: 'POST', path: NEXT, body: '', headers: { 'content-type': 'application/json' }, status: 400, code: 'VALIDATION_ERROR' },
  { name: 'not JSON at all', method: 'POST', path: NEXT, body: 'siteId=site-1', headers: { 'content-type': 'text/plain' }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'count as a string', method: 'POST', path: NEXT, body: { ...ok, count: '5' }, status: 400, code: 'VALIDATION_ERROR', field: 'count' },
  { name: 'siteId as a number', method: 'POST', path: NEXT, body: { ...ok, siteId: 1 }, status: 400, code: 'VALIDATION_ERROR', field: 'siteId' },
  { name: 'unknown site', method: 'POST', path: NEXT, body: { ...ok, siteId: 'site-9' }, status: 400, code: 'VALIDATION_ERROR', field: 'siteId', allowed: ['site-1', 'site-2'] },
  { name: 'unknown partition', method: 'POST', path: NEXT, body: { ...ok, partitionId: 'partition-z' }, status: 400, code: 'VALIDATION_ERROR', field: 'partitionId', allowed: ['partition-a', 'partition-b'] },
  { name: 'unknown invoice type', method: 'POST', path: NEXT, body: { ...ok, invoiceType: 'monthly' }, status: 400, code: 'VALIDATION_ERROR', field: 'invoiceType', allowed: ['on-cycle', 'off-cycle', 'simulated', 'suppressed'] },
  { name: 'missing invoice type', method: 'POST', path: NEXT, body: { siteId: 'site-1', partitionId: 'partition-a' }, status: 400, code: 'VALIDATION_ERROR', field: 'invoiceType' },
  { name: 'unknown field', method: 'POST', path: NEXT, body: { ...ok, colour: 'red' }, status: 400, code: 'VALIDATION_ERROR', field: 'colour' },
  { name: 'count 0', method: 'POST', path: NEXT, body: { ...ok, count: 0 }, status: 400, code: 'VALIDATION_ERROR', field: 'count' },
  { name: 'negative count', method: 'POST', path: NEXT, body: { ...ok, count: -5 }, status: 400, code: 'VALIDATION_ERROR', field: 'count' },
  { name: 'count above the maximum', method: 'POST', path: NEXT, body: { ...ok, count: 1001 }, status: 400, code: 'VALIDATION_ERROR', field: 'count' },
  { name: 'huge count', method: 'POST', path: NEXT, body: { ...ok, count: 1e300 }, status: 400, code: 'VALIDATION_ERROR', field: 'count' },
  { name: 'non-integer count', method: 'POST', path: NEXT, body: { ...ok, count: 1.5 }, status: 400, code: 'VALIDATION_ERROR', field: 'count' },
  { name: 'GET: non-numeric count', method: 'GET', path: q({ ...ok, count: 'abc' }), status: 400, code: 'VALIDATION_ERROR', field: 'count' },
  { name: 'GET: non-integer count', method: 'GET', path: q({ ...ok, count: '2.5' }), status: 400, code: 'VALIDATION_ERROR', field: 'count' },
  { name: 'GET: negative count', method: 'GET', path: q({ ...ok, count: '-1' }), status: 400, code: 'VALIDATION_ERROR', field: 'count' },
  { name: 'GET: unknown site', method: 'GET', path: q({ ...ok, siteId: '<script>' }), status: 400, code: 'VALIDATION_ERROR', field: 'siteId' },
  { name: 'GET: partition of no site', method: 'GET', path: q({ ...ok, partitionId: 'x' }), status: 400, code: 'VALIDATION_ERROR', field: 'partitionId' },
  { name: 'GET: missing site', method: 'GET', path: `${NEXT}?partitionId=partition-a&invoiceType=on-cycle`, status: 400, code: 'VALIDATION_ERROR', field: 'siteId' },
  { name: 'oversized body', method: 'POST', path: NEXT, body: { ...ok, pad: 'x'.repeat(200_000) }, status: 413, code: 'PAYLOAD_TOO_LARGE' },
  { name: 'release: never issued', method: 'POST', path: REL, body: { sequenceNumber: 999_999, siteId: 'site-1', partitionId: 'partition-a', reason: 'x' }, status: 404, code: 'NUMBER_NOT_ISSUED', field: 'sequenceNumber' },
  { name: 'release: number 0 (below the start)', method: 'POST', path: REL, body: { sequenceNumber: 0, siteId: 'site-1', partitionId: 'partition-a', reason: 'x' }, status: 404, code: 'NUMBER_NOT_ISSUED', field: 'sequenceNumber' },
  { name: 'release: negative number', method: 'POST', path: REL, body: { sequenceNumber: -1, siteId: 'site-1', partitionId: 'partition-a', reason: 'x' }, status: 400, code: 'VALIDATION_ERROR', field: 'sequenceNumber' },
  { name: 'release: number as a string', method: 'POST', path: REL, body: { sequenceNumber: '1', siteId: 'site-1', partitionId: 'partition-a', reason: 'x' }, status: 400, code: 'VALIDATION_ERROR', field: 'sequenceNumber' },
  { name: 'release: missing reason', method: 'POST', path: REL, body: { sequenceNumber: 1, siteId: 'site-1', partitionId: 'partition-a' }, status: 400, code: 'VALIDATION_ERROR', field: 'reason' },
  { name: 'release: empty reason', method: 'POST', path: REL, body: { sequenceNumber: 1, siteId: 'site-1', partitionId: 'partition-a', reason: '' }, status: 400, code: 'VALIDATION_ERROR', field: 'reason' },
  { name: 'release: another holder', method: 'POST', path: REL, body: { sequenceNumber: 1, siteId: 'site-2', partitionId: 'partition-a', reason: 'x' }, status: 409, code: 'HOLDER_MISMATCH', field: 'siteId' },
  { name: 'release: unknown site', method: 'POST', path: REL, body: { sequenceNumber: 1, siteId: 'nowhere', partitionId: 'partition-a', reason: 'x' }, status: 400, code: 'VALIDATION_ERROR', field: 'siteId' },
  { name: 'settings: not a boolean', method: 'PUT', path: '/api/v1/settings', body: { simulatedEnabled: 'no' }, status: 400, code: 'VALIDATION_ERROR', field: 'simulatedEnabled' },
  { name: 'audit: bad time', method: 'GET', path: '/api/v1/audit?from=yesterday', status: 400, code: 'VALIDATION_ERROR', field: 'from' },
  { name: 'audit: unknown event', method: 'GET', path: '/api/v1/audit?event=delete', status: 400, code: 'VALIDATION_ERROR', field: 'event' },
  { name: 'audit: limit above 1000', method: 'GET', path: '/api/v1/audit?limit=100000', status: 400, code: 'VALIDATION_ERROR', field: 'limit' },
  { name: 'gaps: unknown status', method: 'GET', path: '/api/v1/sequence/gaps?status=closed', status: 400, code: 'VALIDATION_ERROR', field: 'status' },
  { name: 'demo: too many threads', method: 'POST', path: '/api/v1/demo/concurrent?threads=100000&requestsPerThread=1', status: 400, code: 'VALIDATION_ERROR', field: 'threads' },
  { name: 'demo: too many requests', method: 'POST', path: '/api/v1/demo/load-test?totalRequests=999999999&concurrentThreads=10', status: 400, code: 'VALIDATION_ERROR', field: 'totalRequests' },
  { name: 'demo: zero threads', method: 'POST', path: '/api/v1/demo/load-test?totalRequests=10&concurrentThreads=0', status: 400, code: 'VALIDATION_ERROR', field: 'concurrentThreads' },
];

describe('bad input: a clear 4xx naming the field, and nothing changes', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
    const first = await http(s.url, 'POST', NEXT, ok);
    assert.equal(first.status, 200);
  });
  after(async () => s.dispose());

  /** Everything observable about the state, minus figures that move by themselves (clock, perf). */
  async function snapshot(): Promise<string> {
    const stats = await http<Record<string, unknown>>(s.url, 'GET', '/api/v1/sequence/stats');
    const { series, totals, settings } = stats.body;
    const audit = await http(s.url, 'GET', '/api/v1/audit?limit=1000');
    const gaps = await http(s.url, 'GET', '/api/v1/sequence/gaps?status=all');
    return JSON.stringify({ series, totals, settings, audit: audit.body, gaps: gaps.body });
  }

  for (const c of cases) {
    it(`${c.name} → ${c.status} ${c.code}`, async () => {
      const before = await snapshot();
      const r = await http<ErrorBody>(s.url, c.method, c.path, c.body, c.headers);
      assert.equal(r.status, c.status, JSON.stringify(r.body));
      assert.equal(r.body.error?.code, c.code, JSON.stringify(r.body));
      assert.ok(r.body.error.message.length > 5, 'a readable message');
      if (c.field !== undefined) assert.equal(r.body.error.field, c.field, JSON.stringify(r.body));
      if (c.allowed !== undefined) assert.deepEqual(r.body.error.allowed, c.allowed);
      assert.equal(await snapshot(), before, 'state unchanged');
    });
  }
});
