import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sample } from '../helpers/prometheus.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

describe('GET /metrics (Prometheus)', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s?.dispose());

  it('counts allocations, latency, commits, errors and shows the series state', async () => {
    const holder = { siteId: 'site-1', partitionId: 'partition-a' };
    for (let i = 0; i < 3; i++) await http(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });
    await http(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'off-cycle', count: 5 }, { 'idempotency-key': 'm-1' });
    await http(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'off-cycle', count: 5 }, { 'idempotency-key': 'm-1' });
    await http(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 2, ...holder, reason: 'cancelled' });
    await http(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'nope' });
    const res = await fetch(`${s.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    const text = await res.text();
    const alloc = (invoice_type: string) => sample(text, 'seqd_allocated_numbers_total', { site: 'site-1', partition: 'partition-a', invoice_type });
    assert.equal(alloc('on-cycle'), 3);
    assert.equal(alloc('off-cycle'), 5, 'the retry with the same key is not counted again');
    assert.equal(sample(text, 'seqd_http_request_duration_seconds_count', { method: 'POST', route: '/api/v1/sequence/next', status: '200' }), 5);
    assert.equal(sample(text, 'seqd_errors_total', { code: 'VALIDATION_ERROR', status: '400' }), 1);
    assert.ok((sample(text, 'seqd_commit_batch_ops_count') ?? 0) >= 5);
    assert.ok((sample(text, 'seqd_store_commit_duration_seconds_count', { store: 'sqlite' }) ?? 0) >= 5);
    assert.equal(sample(text, 'seqd_series_high_water_mark', { series: 'global' }), 8);
    assert.equal(sample(text, 'seqd_series_open_gaps', { series: 'global' }), 1);
    assert.equal(sample(text, 'seqd_series_released_numbers', { series: 'global' }), 1);
    assert.ok((sample(text, 'seqd_process_resident_memory_bytes') ?? 0) > 0);
    assert.equal(sample(text, 'seqd_etcd_member_up'), null, 'no etcd gauges on the embedded store');
  });

  it('serves every metric the Grafana dashboard in deploy/ queries', async () => {
    const dashboard = readFileSync(new URL('../../deploy/grafana/seqd-dashboard.json', import.meta.url), 'utf8');
    const used = new Set([...dashboard.matchAll(/\b(seqd_[a-z0-9_]+)/g)].map((m) => (m[1] ?? '').replace(/_(bucket|count|sum)$/, '')));
    assert.ok(used.size >= 12, [...used].join(', '));
    const text = await (await fetch(`${s.url}/metrics`)).text();
    const served = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    const missing = [...used].filter((n) => !served.has(n));
    assert.deepEqual(missing, [], `the dashboard queries metrics /metrics does not serve: ${missing.join(', ')}`);
  });
});
