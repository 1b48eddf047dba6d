import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLiveSeries, LIVE_AFTER_CLOSE_MS } from '../../src/domain/live-series.js';
import type { SeriesState } from '../../src/domain/types.js';

const closedAt = (at: number | null) => ({ closedAt: at }) as SeriesState;

describe('isLiveSeries', () => {
  it('an open series is live; a closed one until 35 days after its close', () => {
    const now = Date.parse('2026-12-06T00:00:00Z');
    assert.equal(LIVE_AFTER_CLOSE_MS, 35 * 86_400_000);
    assert.equal(isLiveSeries(closedAt(null), now), true);
    assert.equal(isLiveSeries(closedAt(now - LIVE_AFTER_CLOSE_MS + 1), now), true);
    assert.equal(isLiveSeries(closedAt(now - LIVE_AFTER_CLOSE_MS), now), false);
    // A close stamped after this clock (another instance's clock ahead) is live.
    assert.equal(isLiveSeries(closedAt(now + 60_000), now), true);
  });
});
