import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { SeqdApiError, SeqdClient } from '../../src/client/index.js';
import { http, startTestServer, type ErrorBody, type TestServer } from '../helpers/seqd-server.js';

type Refusal = ErrorBody & { error: { status?: string; reason?: string | null } };
const holder = { siteId: 'site-1', partitionId: 'partition-a' };

// Issue 13 (minor): NUMBER_ALREADY_RELEASED must tell an expiry from the caller's own release,
// in the error body, its message (what the CLI prints) and the typed client's error.
describe('NUMBER_ALREADY_RELEASED reports the reason of the release', () => {
  let s: TestServer;
  let expired = 0;
  let cancelled = 0;
  before(async () => {
    s = await startTestServer({ sequence: { core: { 'reservation-timeout-seconds': 1 } } });
    const got = await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count: 2 });
    [expired = 0, cancelled = 0] = got.body.numbers;
    await http(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: cancelled, ...holder, reason: 'cancelled by customer' });
    // Bounded wait for the sweeper to release the other number as expired.
    for (let i = 0; i < 100; i++) {
      const gaps = await http<{ gaps: { sequenceNumber: number }[] }>(s.url, 'GET', '/api/v1/sequence/gaps?status=open');
      if (gaps.body.gaps.some((g) => g.sequenceNumber === expired)) break;
      await sleep(100);
    }
  });
  after(async () => s.dispose());

  it('in the body and the message: expired vs the caller’s reason, for release and confirm', async () => {
    for (const [n, reason] of [[expired, 'expired'], [cancelled, 'cancelled by customer']] as const) {
      for (const path of ['/api/v1/sequence/release', '/api/v1/sequence/confirm']) {
        const body = path.endsWith('release') ? { sequenceNumber: n, ...holder, reason: 'again' } : { sequenceNumber: n, ...holder };
        const r = await http<Refusal>(s.url, 'POST', path, body);
        assert.equal(r.status, 409, JSON.stringify(r.body));
        assert.equal(r.body.error.code, 'NUMBER_ALREADY_RELEASED');
        assert.deepEqual([r.body.error.status, r.body.error.reason], ['open', reason], path);
        assert.ok(r.body.error.message.includes(`"${reason}"`), r.body.error.message);
      }
    }
  });

  it('in the typed client’s error', async () => {
    const client = new SeqdClient({ urls: [s.url] });
    await assert.rejects(
      client.release({ sequenceNumber: expired, ...holder, reason: 'again' }),
      (e: unknown) => e instanceof SeqdApiError && e.code === 'NUMBER_ALREADY_RELEASED' && e.details.reason === 'expired' && e.details.status === 'open',
    );
  });
});
