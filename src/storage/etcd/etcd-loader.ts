import { canonical } from '../../domain/numbering-profile.js';
import type { AuditEvent, NumberRecord, OpenGap, RequestRecord, Settings } from '../../domain/types.js';
import { encodeRequest } from '../request-record-codec.js';
import type { StoreIdentity } from '../sequence-store.js';
import type { SeriesImage, StoreLoader } from '../store-transfer.js';
import type { EtcdKvClient, RequestOp } from './etcd-client.js';
import { chunkOf, encodeAudit, encodeGaps, encodeNums, encodeState, keys, prefixEnd, type NumsChunk } from './etcd-codec.js';
import { ETCD_FORMAT, FORMAT_KEY } from './etcd-format.js';

/** Marks a store being loaded (see {@link StoreLoader}). */
export const RESTORING_KEY = Buffer.from('seqd/restoring');
/** Everything a store holds but the registrations of running instances (`seqd/instances/`, under leases). */
const DATA_PREFIXES = ['seqd/audit/', 'seqd/format', 'seqd/gaps/', 'seqd/identity', 'seqd/issue/', 'seqd/key/', 'seqd/keyage/', 'seqd/maintenance', 'seqd/nums/', 'seqd/req/', 'seqd/settings', 'seqd/state/'];
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

  async contents() {
    const [states, identity] = await Promise.all([
      this.client.range({ key: keys.statePrefix, range_end: prefixEnd(keys.statePrefix), keys_only: true }),
      this.client.range({ key: keys.identity }),
    ]);
    return { series: states.kvs.length, identity: identity.kvs.length > 0 };
  }

  async begin(replace: boolean): Promise<void> {
    const ops: RequestOp[] = [];
    if (replace) {
      for (const prefix of DATA_PREFIXES.map((p) => Buffer.from(p))) ops.push({ request_delete_range: { key: prefix, range_end: prefixEnd(prefix) } });
    }
    ops.push({ request_put: { key: RESTORING_KEY, value: Buffer.from(new Date().toISOString()) } });
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
    const state = { start: s.start, hwm: s.hwm, seq: s.eventSeq, hash: s.lastHash, counters: s.counters, totals: [...image.totals], closedAt: s.closedAt, lastTs: s.lastEventAt };
    puts.push([keys.state(series), encodeState(state)]);
    await this.put(puts);
  }

  async putEvents(series: string, events: readonly AuditEvent[], last: boolean): Promise<void> {
    const puts: [Buffer, Buffer][] = [];
    const flush = () => {
      const first = this.batch[0];
      const end = this.batch[this.batch.length - 1];
      if (!first || !end) return;
      puts.push([keys.audit(series, end.seq), encodeAudit(this.batch)]);
      // The counter index: the batch that moved the HWM to the end of its last counter range.
      const hwm = Math.max(-Infinity, ...this.batch.filter((e) => e.type === 'issue').map((e) => e.last ?? -Infinity));
      if (Number.isFinite(hwm)) puts.push([keys.issue(series, hwm), Buffer.from(String(end.seq))]);
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
    const puts: [Buffer, Buffer][] = records.map((r) => [keys.request(r.key), Buffer.from(encodeRequest(r))]);
    // The sweep finds records by age: one index entry per commit time, as commits write them.
    const byTime = new Map<number, string[]>();
    for (const r of records) byTime.set(r.committedAt, [...(byTime.get(r.committedAt) ?? []), r.key]);
    for (const [at, list] of byTime) puts.push([keys.keyAge(at, `restored-${++this.restoredKeys}`), Buffer.from(JSON.stringify(list))]);
    await this.put(puts);
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
