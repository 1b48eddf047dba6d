import { randomUUID } from 'node:crypto';
import type { AuditEntry, AuditPage, ConfirmResponse, NextResponse, ReleaseResponse } from '../service/sequence-service.js';
import { SeqdApiError } from './seqd-api-error.js';
import type { SeriesSelection, SeriesStatus } from '../domain/series-page.js';

export type { SeriesSelection, SeriesStatus };

export interface SeqdClientOptions {
  /** Base URLs of the instances, tried in turn when one does not answer. */
  readonly urls: readonly string[];
  /** Deadline of one HTTP call (default 10 s). */
  readonly timeoutMs?: number;
  /** Attempts per call over all instances (default 4). */
  readonly attempts?: number;
  /** API key, sent as `Authorization: Bearer` (needed when the server enforces keys). */
  readonly apiKey?: string | undefined;
}

export interface NextParams {
  readonly siteId: string;
  readonly partitionId: string;
  readonly invoiceType: 'on-cycle' | 'off-cycle' | 'simulated' | 'suppressed';
  readonly count?: number;
  /** Retries reuse it; one is generated when absent, so a retry never takes new numbers. */
  readonly idempotencyKey?: string;
}

/** The answers are the server's own response types (type-only imports: no server code at run time). */
export type NextResult = NextResponse;
export type ReleaseResult = ReleaseResponse;
export type ConfirmResult = ConfirmResponse;
/** One audit event, with `actor`: the name of the API key that caused it (see the README). */
export type AuditEvent = AuditEntry;
export type AuditResult = AuditPage;

export interface NumberParams {
  readonly sequenceNumber: number;
  readonly siteId: string;
  readonly partitionId: string;
  /** The number's series, as `next` answered it (needed for a number of an earlier period). */
  readonly series?: string;
  /** With series split by invoice type and no `series`: the type the number was taken for. */
  readonly invoiceType?: NextParams['invoiceType'];
  /**
   * The `allocation` that `next` answered. With it the call acts only while that allocation holds
   * the number: a retry after a lost reply can never release or confirm a number handed to
   * another invoice since, and a repeated release answers `alreadyReleased`.
   */
  readonly allocation?: string;
}

/** What a gap report shows: one status, `gaps` (open and void) or `all` (and refilled). */
export type GapStatus = 'open' | 'void' | 'refilled' | 'gaps' | 'all';

/** Which series a read covers (absent: the server's default series). */
export interface SeriesParams {
  readonly series?: string;
}

/** A point of a series' chain: an event's seq and hash. */
export interface ChainHead {
  seq: number;
  hash: string;
}

export interface VerifyResult {
  series: string;
  /** True only if the chain, the continuity, the derived tables and any saved head are valid. */
  valid: boolean;
  eventsChecked: number;
  firstInvalidEvent: { seq: number; problem: string } | null;
  continuity: { valid: boolean; problem: string | null };
  /** The trail's last event (null when the chain is broken): save it, pass it back as `head` later. */
  head: ChainHead | null;
  /** The verdict on the `head` passed in (null without one). */
  savedHead: (ChainHead & { valid: boolean; problem: string | null }) | null;
  /** The derived tables (number records, totals, counters, idempotency records) recomputed from the trail. */
  derived: {
    valid: boolean;
    checked: boolean;
    numbersChecked: number;
    totalsChecked: number;
    requestsChecked: number;
    problemCount: number;
    /** The first disagreements (at most 50). */
    problems: string[];
  };
  /** One report per series when no single series was asked for. */
  reports?: Omit<VerifyResult, 'reports'>[];
}

/** Answers that may have committed or may succeed elsewhere: try the next instance. */
const RETRY_STATUS = new Set([502, 503, 504]);

/**
 * A typed client of the seqd API. Every call goes to the first instance that answers; a call with
 * no answer (refused, timed out, 503) is repeated on the next instance, up to `attempts` times.
 * `next` always carries an idempotency key, so a repeated call gets the numbers of the first
 * one if it did commit: retrying never takes numbers twice.
 */
export class SeqdClient {
  private preferred = 0;

  constructor(private readonly o: SeqdClientOptions) {
    if (o.urls.length === 0) throw new Error('SeqdClient needs at least one URL');
  }

  next(p: NextParams): Promise<NextResult> {
    const { idempotencyKey = randomUUID(), count = 1, ...rest } = p;
    return this.call('POST', '/api/v1/sequence/next', { ...rest, count }, { 'idempotency-key': idempotencyKey });
  }

  /** Retried like `next`: with `allocation`, a release that landed before a lost reply answers `alreadyReleased`. */
  release(p: NumberParams & { readonly reason: string }): Promise<ReleaseResult> {
    return this.call('POST', '/api/v1/sequence/release', p);
  }

  /** Confirming twice is harmless (`alreadyConfirmed`), so this is retried like `next`. */
  confirm(p: NumberParams): Promise<ConfirmResult> {
    return this.call('POST', '/api/v1/sequence/confirm', p);
  }

  /** `status`: only the series in that state are named in `series[]` (the totals stay those of all). */
  stats(status?: SeriesStatus): Promise<Record<string, unknown>> {
    return this.call('GET', `/api/v1/sequence/stats?${query({ status })}`);
  }

  /**
   * The gap report: `gaps` (default) is open and void numbers, `all` adds refilled ones. A
   * `truncated` answer has a `nextCursor`: pass it as `cursor` for the next page.
   */
  gaps(status: GapStatus = 'gaps', limit?: number, where: SeriesParams & { readonly cursor?: number } = {}): Promise<Record<string, unknown>> {
    return this.call('GET', `/api/v1/sequence/gaps?${query({ status, limit, series: where.series, cursor: where.cursor })}`);
  }

  /**
   * Every series with its state (or those in one state, a page of `limit` by name); the default
   * one and the strategy. A `truncated` answer has a `nextCursor`: pass it as `cursor`.
   */
  series(selection: SeriesSelection = {}): Promise<{ defaultSeries: string; series: Record<string, unknown>[]; count: number; truncated: boolean; nextCursor: string | null }> {
    return this.call('GET', `/api/v1/sequence/series?${query({ status: selection.status, limit: selection.limit, cursor: selection.cursor })}`);
  }

  /** The report of one series (its final report once its period is closed). */
  seriesReport(name: string): Promise<Record<string, unknown>> {
    return this.call('GET', `/api/v1/sequence/series/${encodeURIComponent(name)}`);
  }

  audit(q: Record<string, string | number> = {}): Promise<AuditResult> {
    return this.call('GET', `/api/v1/audit?${query(q)}`);
  }

  /**
   * One series, the series of one period (`2026`), or (neither) every series. `head`: a head saved
   * from an earlier verify of `series` (needs `series`): the answer is invalid if that event is no
   * longer in the trail with that hash.
   */
  verify(where: { series?: string; period?: string; head?: ChainHead } = {}): Promise<VerifyResult> {
    const { head, ...rest } = where;
    return this.call('GET', `/api/v1/audit/verify?${query({ ...rest, head: head ? `${head.seq}:${head.hash}` : undefined })}`);
  }

  /**
   * Streams the audit export (CSV or NDJSON) chunk by chunk; `onProgress` gets the lines so far
   * and the series' event count.
   */
  async *exportAudit(
    q: { format?: 'csv' | 'ndjson'; from?: string; to?: string; series?: string; allSeries?: boolean } = {},
    onProgress?: (lines: number, total: number) => void,
  ): AsyncGenerator<string> {
    const qs = query({ ...q, allSeries: q.allSeries === true ? 'true' : undefined });
    const res = await this.fetchAny('GET', `/api/v1/audit/export?${qs}`, undefined, {}, false);
    const total = Number(res.headers.get('x-seqd-total-events') ?? 0);
    if (!res.body) return;
    const decoder = new TextDecoder();
    let lines = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      const text = decoder.decode(chunk, { stream: true });
      for (const ch of text) if (ch === '\n') lines++;
      onProgress?.(lines, total);
      yield text;
    }
  }

  private async call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const res = await this.fetchAny(method, path, body, headers, true);
    return (await res.json()) as T;
  }

  private async fetchAny(method: string, path: string, body: unknown, headers: Record<string, string>, timeoutWholeBody: boolean): Promise<Response> {
    const attempts = this.o.attempts ?? 4;
    let last: SeqdApiError | null = null;
    for (let i = 0; i < attempts; i++) {
      const index = (this.preferred + i) % this.o.urls.length;
      const url = this.o.urls[index] ?? '';
      try {
        const auth: Record<string, string> = this.o.apiKey ? { authorization: `Bearer ${this.o.apiKey}` } : {};
        const res = await fetch(url + path, {
          method,
          headers: body === undefined ? { ...auth, ...headers } : { 'content-type': 'application/json', ...auth, ...headers },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: timeoutWholeBody ? AbortSignal.timeout(this.o.timeoutMs ?? 10_000) : undefined,
        });
        if (res.ok) {
          this.preferred = index;
          return res;
        }
        const err = await toApiError(res);
        if (!RETRY_STATUS.has(res.status)) throw err;
        last = err;
      } catch (error) {
        if (error instanceof SeqdApiError && !error.retryable) throw error;
        last = error instanceof SeqdApiError ? error : new SeqdApiError(`${url}: ${String(error)}`, 'UNREACHABLE', 0, undefined, { cause: error });
      }
      if (i + 1 < attempts) await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** i)));
    }
    throw last ?? new SeqdApiError('no attempt made', 'UNREACHABLE', 0);
  }
}

/** A query string of the defined values. */
function query(q: Record<string, string | number | undefined>): URLSearchParams {
  return new URLSearchParams(Object.entries(q).flatMap(([k, v]): [string, string][] => (v === undefined ? [] : [[k, String(v)]])));
}

async function toApiError(res: Response): Promise<SeqdApiError> {
  const text = await res.text();
  try {
    const { error } = JSON.parse(text) as { error: { code: string; message: string; field?: string } & Record<string, unknown> };
    const { code, message, field, ...details } = error;
    return new SeqdApiError(message, code, res.status, field, { details });
  } catch {
    return new SeqdApiError(`HTTP ${res.status}: ${text.slice(0, 200)}`, 'HTTP_ERROR', res.status);
  }
}
