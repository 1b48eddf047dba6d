import type { AuditEvent, AuditEventType } from '../../domain/types.js';
import type { AuditQuery, SequenceStore } from '../../storage/sequence-store.js';
import { FormattedNumbers, type NumberFormatter } from './formatted-numbers.js';

/** Which events an export holds: the audit query's filters, without paging. */
export type AuditExportFilter = Pick<AuditQuery, 'series' | 'from' | 'to' | 'type' | 'siteId' | 'partitionId' | 'invoiceType'>;

/**
 * An audit event as exported: every stored field, the time as ISO 8601, then its series and its
 * numbers as the series' format shows them (keys in the order of the CSV columns).
 */
export interface ExportedEvent extends Record<string, unknown> {
  seq: number;
  timestamp: string;
  event: AuditEventType;
  first: number | null;
  last: number | null;
  siteId: string | null;
  partitionId: string | null;
  invoiceType: string | null;
  reason: string | null;
  requestId: string | null;
  batchId: string;
  node: string;
  /** The allocation a release, confirm or void acted on (seq of the event that gave the number). */
  allocation: number | null;
  prevHash: string;
  hash: string;
  series: string;
  /** `first`..`last` as handed out (`A..B` for a range); null without a format or numbers. */
  formatted: string | null;
  /** Who caused the event: an API key's name or a `system:` actor (null: none recorded). */
  actor: string | null;
}

// New columns go at the end: tools read the earlier ones by position.
export const AUDIT_COLUMNS = [
  'seq', 'timestamp', 'event', 'first', 'last', 'siteId', 'partitionId', 'invoiceType',
  'reason', 'requestId', 'batchId', 'node', 'allocation', 'prevHash', 'hash', 'series', 'formatted', 'actor',
] as const satisfies readonly (keyof ExportedEvent)[];

const PAGE = 1000;

/**
 * The whole trail of a series in sequence order, read page by page (memory stays flat for any
 * length) and filtered. `onProgress` gets the number of events read so far after every page.
 * `format` is the series' (null: `formatted` stays null).
 */
export async function* exportAuditEvents(
  store: SequenceStore,
  f: AuditExportFilter,
  onProgress?: (read: number) => void,
  format: NumberFormatter | null = null,
): AsyncGenerator<ExportedEvent> {
  const formatted = new FormattedNumbers(store, f.series, format);
  let after = 0;
  let read = 0;
  for (;;) {
    const page = await store.readEvents(f.series, after, PAGE);
    for (const e of page) {
      const grant = givenBy(e);
      // Every allocation is noted, filtered out or not: later rows format their numbers by it.
      if (grant === e.seq) formatted.note(e.seq, e.ts);
      if (matches(e, f)) yield toExported(e, await formatted.of(e.first, e.last, grant));
    }
    read += page.length;
    onProgress?.(read);
    const last = page[page.length - 1];
    // A short page is not the end (etcd answers a few batches at a time): only an empty one is.
    if (!last) return;
    after = last.seq;
  }
}

function matches(e: AuditEvent, f: AuditExportFilter): boolean {
  return (
    (f.from === undefined || e.ts >= f.from) &&
    (f.to === undefined || e.ts <= f.to) &&
    (f.type === undefined || e.type === f.type) &&
    (f.siteId === undefined || e.siteId === f.siteId) &&
    (f.partitionId === undefined || e.partitionId === f.partitionId) &&
    (f.invoiceType === undefined || e.invoiceType === f.invoiceType)
  );
}

/** The allocation whose numbers an event is about: itself for issue and refill, else the one it acted on. */
function givenBy(e: AuditEvent): number | null {
  return e.type === 'issue' || e.type === 'refill' ? e.seq : e.allocation;
}

function toExported(e: AuditEvent, formatted: string | null): ExportedEvent {
  return {
    seq: e.seq,
    timestamp: new Date(e.ts).toISOString(),
    event: e.type,
    first: e.first,
    last: e.last,
    siteId: e.siteId,
    partitionId: e.partitionId,
    invoiceType: e.invoiceType,
    reason: e.reason,
    requestId: e.requestId,
    batchId: e.batchId,
    node: e.node,
    allocation: e.allocation,
    prevHash: e.prevHash,
    hash: e.hash,
    series: e.series,
    formatted,
    actor: e.actor,
  };
}
