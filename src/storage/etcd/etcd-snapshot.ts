import type { AuditEvent, NumberRecord, RequestRecord, Settings } from '../../domain/types.js';
import { decodeRequest } from '../request-record-codec.js';
import type { StoreIdentity } from '../sequence-store.js';
import type { SeriesImage, StoreSnapshot } from '../store-transfer.js';
import { decodeGaps, decodeState, keys, prefixEnd } from './etcd-codec.js';
import { decodeSettingsValue, readBatches, readNumberPage, type RangeCall } from './etcd-reads.js';

const STATUSES = ['open', 'void', 'refilled', 'confirmed'] as const;

/**
 * A snapshot of the etcd store: every read of state, number records, settings and idempotency
 * records is made at one revision (etcd keeps old revisions until it compacts them: a snapshot
 * read after that fails, and the backup with it). Events are read at the latest revision: a batch
 * record never changes once committed, and the series state of the snapshot bounds how far a
 * trail is read.
 */
export class EtcdSnapshot implements StoreSnapshot {
  private readonly at: RangeCall;

  constructor(
    private readonly latest: RangeCall,
    /** The revision every read but the trail's is made at. */
    readonly position: string,
  ) {
    this.at = (req) => latest({ ...req, revision: position });
  }

  async identity(): Promise<StoreIdentity | null> {
    const kv = (await this.at({ key: keys.identity })).kvs[0];
    return kv ? (JSON.parse(kv.value.toString()) as StoreIdentity) : null;
  }

  async settings(): Promise<Partial<Settings>> {
    return decodeSettingsValue((await this.at({ key: keys.settings })).kvs[0]);
  }

  async listSeries(): Promise<string[]> {
    const res = await this.at({ key: keys.statePrefix, range_end: prefixEnd(keys.statePrefix), keys_only: true });
    return res.kvs.map((kv) => kv.key.toString().slice(keys.statePrefix.length)).sort();
  }

  async series(name: string): Promise<SeriesImage | null> {
    const kv = (await this.at({ key: keys.state(name) })).kvs[0];
    if (!kv) return null;
    const s = decodeState(kv.value);
    const gp = keys.gapsPrefix(name);
    const gaps = (await this.at({ key: gp, range_end: prefixEnd(gp) })).kvs.flatMap((g) => decodeGaps(g.value)).sort((a, b) => a.number - b.number);
    const state = { series: name, start: s.start, hwm: s.hwm, eventSeq: s.seq, lastHash: s.hash, openGaps: gaps, counters: s.counters, closedAt: s.closedAt, lastEventAt: s.lastTs };
    return { state, totals: s.totals };
  }

  async events(series: string, afterSeq: number, limit: number): Promise<AuditEvent[]> {
    return (await readBatches(this.latest, series, afterSeq + 1)).filter((e) => e.seq > afterSeq).slice(0, limit);
  }

  async numbers(series: string, afterNumber: number, limit: number): Promise<NumberRecord[]> {
    return readNumberPage(this.at, { series, statuses: STATUSES, limit, afterNumber: Number.isFinite(afterNumber) ? afterNumber : -1 });
  }

  async requests(afterKey: string | null, limit: number): Promise<RequestRecord[]> {
    const prefix = keys.request('');
    const from = afterKey === null ? prefix : Buffer.concat([keys.request(afterKey), Buffer.from([0])]);
    const res = await this.at({ key: from, range_end: prefixEnd(prefix), limit });
    return res.kvs.map((kv) => {
      const key = decodeURIComponent(kv.key.toString().slice(prefix.length));
      return decodeRequest(key, kv.value.toString(), '');
    });
  }

  async close(): Promise<void> {
    // Nothing held: the revision is only a number.
  }
}
