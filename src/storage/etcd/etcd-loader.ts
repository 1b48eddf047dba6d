import { canonical } from '../../domain/numbering-profile.js';
import type { AuditEvent, NumberRecord, OpenGap, RequestRecord, Settings } from '../../domain/types.js';
import { encodeRequest } from '../request-record-codec.js';
import type { StoreIdentity } from '../sequence-store.js';
import type { SeriesImage, StoreContents, StoreLoader } from '../store-transfer.js';
import type { EtcdKvClient, RequestOp } from './etcd-client.js';
import { chunkOf, decodeState, encodeAudit, encodeGaps, encodeNums, encodeState, keys, prefixEnd, type NumsChunk } from './etcd-codec.js';
import { ETCD_FORMAT, FORMAT_KEY } from './etcd-format.js';

/** Marks a store being loaded (see {@link StoreLoader}). */
export const RESTORING_KEY = Buffer.from('seqd/restoring');
/**
 * Everything a store holds but the registrations of running instances (`seqd/instances/`, under
 * leases), the maintenance key and the restore mark (set just before).
 */
const DATA_PREFIXES = ['seqd/audit/', 'seqd/format', 'seqd/gaps/', 'seqd/head/', 'seqd/identity', 'seqd/issue/', 'seqd/key/', 'seqd/keyage/', 'seqd/nums/', 'seqd/req/', 'seqd/settings', 'seqd/state/'];
/** Per transaction: within etcd's 128 operations and 1.5 MiB, with a margin. */
const MAX_OPS = 100;
const MAX_BYTES = 1_200_000;

/**
 * Loads a backup into etcd in the store's own layout: a batch record per batch of the trail (its
 * events grouped as they were committed), the counter index, gap and number chunks, idempotency
 * records with their age index. Writes in transactions within etcd's limits. Only for a store no
 * seqd serves.
 */
export class EtcdLoader implements StoreLoader {
  private readonly batch: AuditEvent[] = [];
  private restoredKeys = 0;

  constructor(private readonly client: EtcdKvClient) {}

  async contents(): Promise<StoreContents> {
    const instances = Buffer.from('seqd/instances/');
    const [states, identity, live, moved] = await Promise.all([
      this.client.range({ key: keys.statePrefix, range_end: prefixEnd(keys.statePrefix) }),
      this.client.range({ key: keys.identity }),
      this.client.range({ key: instances, range_end: prefixEnd(instances), keys_only: true }),
      this.client.range({ key: keys.migrated }),
    ]);
    const heads = new Map(states.kvs.map((kv) => [kv.key.toString().slice(keys.statePrefix.length), decodeState(kv.value).seq]));
    const id = identity.kvs[0];
    return {
      storeId: id ? (JSON.parse(id.value.toString()) as StoreIdentity).storeId : null,
      heads,
      instances: live.kvs.map((kv) => kv.key.toString().slice(instances.length)),
      migratedTo: moved.kvs[0]?.value.toString() ?? null,
    };
  }

  async begin(replace: boolean): Promise<void> {
    // Maintenance first, in its own transaction (etcd refuses a put and a delete of one key in
    // one): every commit compares its absence, so an instance still serving commits nothing more.
    const mark = Buffer.from(new Date().toISOString());
    await this.client.txn({ compare: [], success: [{ request_put: { key: keys.maintenance, value: Buffer.from('restore in progress') } }, { request_put: { key: RESTORING_KEY, value: mark } }], failure: [] });
    if (!replace) return;
    const ops: RequestOp[] = DATA_PREFIXES.map((p) => Buffer.from(p)).map((key) => ({ request_delete_range: { key, range_end: prefixEnd(key) } }));
    await this.client.txn({ compare: [], success: ops, failure: [] });
  }

  async putIdentity(identity: StoreIdentity): Promise<void> {
    await this.put([[keys.identity, Buffer.from(canonical(identity))]]);
  }

  async putSettings(settings: Partial<Settings>): Promise<void> {
    await this.put([[keys.settings, Buffer.from(JSON.stringify(settings))]]);
  }

  async putSeries(image: SeriesImage, numbers: readonly NumberRecord[]): Promise<void> {
    const s = image.state;
    const series = s.series;
    const gaps = new Map<number, OpenGap[]>();
    const nums = new Map<number, NumsChunk>();
    for (const n of numbers) {
      const c = chunkOf(n.number);
      if (n.status === 'open') {
        const g: OpenGap = { number: n.number, reason: n.reason ?? '', siteId: n.siteId, partitionId: n.partitionId, invoiceType: n.invoiceType, releasedAt: n.changedAt, grant: n.grant };
        gaps.set(c, [...(gaps.get(c) ?? []), g]);
      } else {
        const chunk = nums.get(c) ?? new Map<number, NumberRecord>();
        chunk.set(n.number, n);
        nums.set(c, chunk);
      }
    }
    const puts: [Buffer, Buffer][] = [
      ...[...gaps].map(([c, g]): [Buffer, Buffer] => [keys.gaps(series, c), encodeGaps(g)]),
      ...[...nums].map(([c, chunk]): [Buffer, Buffer] => [keys.nums(series, c), encodeNums(chunk)]),
    ];
    // The state last: a series is found by its state key.
    const state = { start: s.start, hwm: s.hwm, seq: s.eventSeq, hash: s.lastHash, counters: s.counters, totals: [...image.totals], closedAt: s.closedAt, lastTs: s.lastEventAt, ...(s.archived ? { archived: s.archived } : {}) };
    puts.push([keys.state(series), encodeState(state)]);
    await this.put(puts);
  }

  async putEvents(series: string, events: readonly AuditEvent[], last: boolean): Promise<void> {
    const puts: [Buffer, Buffer][] = [];
    const record = (events: readonly AuditEvent[]) => {
      const end = events[events.length - 1];
      if (!end) return;
      const value = encodeAudit(events);
      if (value.length > MAX_BYTES && events.length > 1) {
        // A batch too big for one etcd request (stores without etcd's limits allow bigger ones):
        // several records, each read as part of the trail like any other.
        const half = Math.ceil(events.length / 2);
        record(events.slice(0, half));
        record(events.slice(half));
        return;
      }
      puts.push([keys.audit(series, end.seq), value]);
      // The counter index: the record that moved the HWM to the end of its last counter range.
      const hwm = Math.max(-Infinity, ...events.filter((e) => e.type === 'issue' || e.type === 'import').map((e) => e.last ?? -Infinity));
      if (Number.isFinite(hwm)) puts.push([keys.issue(series, hwm), Buffer.from(String(end.seq))]);
    };
    const flush = () => {
      record(this.batch);
      this.batch.length = 0;
    };
    for (const e of events) {
      const open = this.batch[0];
      // A batch record stores time, node and batch id once: events that differ in any start a new record.
      if (open && (open.batchId !== e.batchId || open.ts !== e.ts || open.node !== e.node)) flush();
      this.batch.push(e);
    }
    if (last) flush();
    await this.put(puts);
  }

  async putRequests(records: readonly RequestRecord[]): Promise<void> {
    // The sweep deletes the keys an age entry lists only while they still carry the entry's
    // revision: each group goes in one transaction with its entry, dated by its newest record.
    for (let i = 0; i < records.length; ) {
      const group: RequestRecord[] = [];
      let bytes = 0;
      for (; i < records.length && group.length < MAX_OPS - 1; i++) {
        const r = records[i] as RequestRecord;
        const size = encodeRequest(r).length + r.key.length * 2 + 64;
        if (group.length > 0 && bytes + size > MAX_BYTES / 2) break;
        group.push(r);
        bytes += size;
      }
      const newest = Math.max(...group.map((r) => r.committedAt));
      const ops: RequestOp[] = group.map((r) => ({ request_put: { key: keys.request(r.key), value: Buffer.from(encodeRequest(r)) } }));
      ops.push({ request_put: { key: keys.keyAge(newest, `restored-${++this.restoredKeys}`), value: Buffer.from(JSON.stringify(group.map((r) => r.key))) } });
      await this.client.txn({ compare: [], success: ops, failure: [] });
    }
  }

  async finish(maintenance: string | null): Promise<void> {
    await this.client.txn({
      compare: [],
      success: [
        { request_put: { key: FORMAT_KEY, value: Buffer.from(String(ETCD_FORMAT)) } },
        maintenance === null ? { request_delete_range: { key: keys.maintenance } } : { request_put: { key: keys.maintenance, value: Buffer.from(maintenance) } },
        { request_delete_range: { key: RESTORING_KEY } },
      ],
      failure: [],
    });
  }

  private async put(puts: readonly [Buffer, Buffer][]): Promise<void> {
    let ops: RequestOp[] = [];
    let bytes = 0;
    const send = async () => {
      if (ops.length === 0) return;
      await this.client.txn({ compare: [], success: ops, failure: [] });
      ops = [];
      bytes = 0;
    };
    for (const [key, value] of puts) {
      if (ops.length >= MAX_OPS || bytes + key.length + value.length > MAX_BYTES) await send();
      ops.push({ request_put: { key, value } });
      bytes += key.length + value.length;
    }
    await send();
  }
}
