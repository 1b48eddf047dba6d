import type { AuditEvent, NumberRecord, OpenGap, RequestRecord, Settings } from '../../domain/types.js';
import { decodeRequest } from '../request-record-codec.js';
import type { StoreIdentity } from '../sequence-store.js';
import type { SeriesImage, StoreSnapshot } from '../store-transfer.js';
import type { Kv } from './etcd-client.js';
import { decodeGaps, decodeNums, decodeState, keys, prefixEnd, type StoredState } from './etcd-codec.js';
import { decodeSettingsValue, gapRecord, readBatches, type RangeCall } from './etcd-reads.js';

const PAGE = 1000;

/** The series a `seqd/gaps/<series>/<chunk>` or `seqd/nums/…` key belongs to. */
const seriesOfChunkKey = (key: Buffer, prefix: string) => {
  const path = key.toString().slice(prefix.length);
  return path.slice(0, path.lastIndexOf('/'));
};

/**
 * A snapshot of the etcd store. etcd keeps old revisions only until it compacts them (every minute
 * on the managed cluster), so everything that changes (series states, gap and number chunks,
 * settings, identity) is read at one revision when the snapshot opens, a few range calls over
 * whole prefixes, and kept in memory. The rest is read later at the latest revision: a batch
 * record never changes once committed (the state of the snapshot bounds how far a trail is
 * read), and an idempotency record written after the snapshot's revision is left out.
 */
export class EtcdSnapshot implements StoreSnapshot {
  private constructor(
    private readonly latest: RangeCall,
    /** The revision the changing part was read at. */
    readonly position: string,
    private readonly states: ReadonlyMap<string, StoredState>,
    private readonly gaps: ReadonlyMap<string, OpenGap[]>,
    private readonly nums: ReadonlyMap<string, NumberRecord[]>,
    private readonly settingsAt: Partial<Settings>,
    private readonly identityAt: StoreIdentity | null,
  ) {}

  static async open(latest: RangeCall): Promise<EtcdSnapshot> {
    // A read now: every commit acknowledged before it is in this revision.
    const first = await latest({ key: keys.identity });
    const position = first.header.revision;
    const at: RangeCall = (req) => latest({ ...req, revision: position });
    const scan = async (prefix: Buffer): Promise<Kv[]> => {
      const out: Kv[] = [];
      for (let from = prefix; ; ) {
        const page = await at({ key: from, range_end: prefixEnd(prefix), limit: PAGE });
        out.push(...page.kvs);
        const last = page.kvs[page.kvs.length - 1];
        if (!page.more || !last) return out;
        from = Buffer.concat([last.key, Buffer.from([0])]);
      }
    };
    const gapsPrefix = 'seqd/gaps/';
    const numsPrefix = 'seqd/nums/';
    const [states, gapKvs, numKvs, settings] = await Promise.all([scan(keys.statePrefix), scan(Buffer.from(gapsPrefix)), scan(Buffer.from(numsPrefix)), at({ key: keys.settings })]);
    const gaps = new Map<string, OpenGap[]>();
    for (const kv of gapKvs) {
      const series = seriesOfChunkKey(kv.key, gapsPrefix);
      gaps.set(series, [...(gaps.get(series) ?? []), ...decodeGaps(kv.value)]);
    }
    const nums = new Map<string, NumberRecord[]>();
    for (const kv of numKvs) {
      const series = seriesOfChunkKey(kv.key, numsPrefix);
      nums.set(series, [...(nums.get(series) ?? []), ...decodeNums(kv.value).values()]);
    }
    const identity = first.kvs[0];
    return new EtcdSnapshot(
      latest,
      position,
      new Map(states.map((kv) => [kv.key.toString().slice(keys.statePrefix.length), decodeState(kv.value)])),
      gaps,
      nums,
      decodeSettingsValue(settings.kvs[0]),
      identity ? (JSON.parse(identity.value.toString()) as StoreIdentity) : null,
    );
  }

  async identity(): Promise<StoreIdentity | null> {
    return this.identityAt;
  }

  async settings(): Promise<Partial<Settings>> {
    return this.settingsAt;
  }

  async listSeries(): Promise<string[]> {
    return [...this.states.keys()].sort();
  }

  async series(name: string): Promise<SeriesImage | null> {
    const s = this.states.get(name);
    if (!s) return null;
    const openGaps = [...(this.gaps.get(name) ?? [])].sort((a, b) => a.number - b.number);
    const state = { series: name, start: s.start, hwm: s.hwm, eventSeq: s.seq, lastHash: s.hash, openGaps, counters: s.counters, closedAt: s.closedAt, lastEventAt: s.lastTs, ...(s.archived ? { archived: s.archived } : {}) };
    return { state, totals: s.totals };
  }

  async events(series: string, afterSeq: number, limit: number): Promise<AuditEvent[]> {
    return (await readBatches(this.latest, series, afterSeq + 1)).filter((e) => e.seq > afterSeq).slice(0, limit);
  }

  async numbers(series: string, afterNumber: number, limit: number): Promise<NumberRecord[]> {
    const all = [...(this.gaps.get(series) ?? []).map(gapRecord), ...(this.nums.get(series) ?? [])];
    return all.filter((r) => r.number > afterNumber).sort((a, b) => a.number - b.number).slice(0, limit);
  }

  async requests(afterKey: string | null, limit: number): Promise<RequestRecord[]> {
    const prefix = keys.request('');
    const position = BigInt(this.position);
    let from = afterKey === null ? prefix : Buffer.concat([keys.request(afterKey), Buffer.from([0])]);
    // An empty answer ends the paging: read on past pages whose records all came after the snapshot.
    for (;;) {
      const res = await this.latest({ key: from, range_end: prefixEnd(prefix), limit });
      // Written after the snapshot: not part of it. (A record is only ever replaced once expired.)
      const out = res.kvs.flatMap((kv) => {
        if (BigInt(kv.mod_revision) > position) return [];
        const key = decodeURIComponent(kv.key.toString().slice(prefix.length));
        return [decodeRequest(key, kv.value.toString(), '')];
      });
      const last = res.kvs[res.kvs.length - 1];
      if (out.length > 0 || !res.more || !last) return out;
      from = Buffer.concat([last.key, Buffer.from([0])]);
    }
  }

  async close(): Promise<void> {
    // Nothing held open: what changes was read when the snapshot opened.
  }
}
