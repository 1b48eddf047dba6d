/**
 * Holds a recorded client history to the audit trail of one series. Pure: the fault tests record
 * what every client sent and was told, read the trail, and call {@link checkHistory}; unit tests
 * feed it histories of deliberately broken behaviour to show that it catches them.
 */

export type ClientOutcome = 'ok' | 'failed' | 'unknown';

/** One call as a client saw it (one SDK call, whatever retries it made inside). */
export interface HistoryOp {
  readonly kind: 'next' | 'release' | 'confirm';
  readonly client: number;
  /** Send and answer times, ms on one clock. */
  readonly start: number;
  end: number;
  outcome: ClientOutcome;
  /** next: its idempotency key. */
  readonly key?: string | undefined;
  /** next: the numbers answered; release/confirm: the number acted on. */
  numbers: number[];
  /** next: numbers that came from refilled gaps. */
  refilled?: number[] | undefined;
  /** next: the allocation answered; release/confirm: the allocation named. */
  allocation?: string | undefined;
  replayed?: boolean | undefined;
  alreadyReleased?: boolean | undefined;
  /** The error code of a failed call. */
  code?: string | undefined;
}

/** An audit event as `GET /api/v1/audit` answers it. */
export interface TrailEvent {
  /** Its series (`global` when absent). */
  readonly series?: string | undefined;
  readonly seq: number;
  readonly event: string;
  readonly first: number | null;
  readonly last: number | null;
  readonly requestId: string | null;
  readonly allocation?: number | null | undefined;
  readonly reason: string | null;
}

interface Grant {
  readonly seq: number;
  readonly first: number;
  readonly last: number;
  readonly key: string | null;
}

const parseToken = (t: string | undefined): { series: string; first: number; last: number } | null => {
  const m = t === undefined ? null : /^(.*)#(\d+)(?:-(\d+))?$/.exec(t);
  if (!m) return null;
  const first = Number(m[2]);
  return { series: m[1] ?? '', first, last: m[3] === undefined ? first : Number(m[3]) };
};
const seriesOf = (e: TrailEvent) => e.series ?? 'global';
/** `site-1@2026` → base `site-1`, period `2026`. */
const splitSeries = (series: string) => {
  const at = series.lastIndexOf('@');
  return at < 0 ? { base: series, period: '' } : { base: series.slice(0, at), period: series.slice(at + 1) };
};

/** Answers to a release that say the number left the allocation: maybe by an earlier attempt of the same call. */
const LEFT_ALLOCATION = new Set(['NUMBER_REASSIGNED', 'NUMBER_ALREADY_RELEASED']);
const mayHaveActed = (o: HistoryOp) => o.outcome !== 'failed' || LEFT_ALLOCATION.has(o.code ?? '');

/**
 * Every violation found, each with a short excerpt of the history and trail around it; [] when
 * the history is consistent with the trail. Checks, per series:
 * - every acknowledged allocation, release and confirm is in the trail, as the allocation told;
 * - no allocation was told to two requests (keyed replays of one request excepted), and a key
 *   owns one allocation;
 * - a number goes to a new allocation only after the old one released it, and that release was
 *   sent before the new holder was told (or was an expiry); a number told to a client is never
 *   released as `undelivered`;
 * - real-time order: a request sent after another was answered gets higher counter numbers of
 *   the same series, and never a number of an earlier period;
 * - a keyed request whose outcome the client never learned is not in the trail (the tests
 *   re-send every such key before checking, which settles it), and a key holds numbers in one
 *   series only;
 * - with `noHiddenHoles`: every number whose latest allocation reached no client was released.
 */
export function checkHistory(ops: readonly HistoryOp[], trail: readonly TrailEvent[], options: { noHiddenHoles?: boolean } = {}): string[] {
  const problems: string[] = [];
  const names = [...new Set(trail.map(seriesOf))].sort();
  for (const series of names) {
    const mine = ops.filter((o) => parseToken(o.allocation)?.series === series);
    const found = checkSeries(mine, trail.filter((e) => seriesOf(e) === series), options);
    problems.push(...(names.length > 1 ? found.map((p) => `[${series}] ${p}`) : found));
  }

  for (const o of ops) {
    const t = parseToken(o.allocation);
    if (o.outcome === 'ok' && t && !names.includes(t.series)) problems.push(`client ${o.client}: acknowledged ${o.kind} in series ${t.series}, which has no trail`);
  }

  // A key holds numbers in one series only.
  const seriesOfKey = new Map<string, Set<string>>();
  for (const e of trail) {
    if ((e.event === 'issue' || e.event === 'refill') && e.requestId !== null) {
      seriesOfKey.set(e.requestId, (seriesOfKey.get(e.requestId) ?? new Set()).add(seriesOf(e)));
    }
  }
  for (const [key, set] of seriesOfKey) if (set.size > 1) problems.push(`key ${key} holds numbers in ${[...set].join(' and ')}`);

  // Keys whose outcome no client learned must not be in the trail.
  const learned = new Set(ops.filter((o) => o.kind === 'next' && o.key !== undefined && (o.outcome === 'ok' || o.code === 'REPLAYED_NUMBERS_CHANGED')).map((o) => o.key));
  for (const o of ops) {
    if (o.kind === 'next' && o.key !== undefined && !learned.has(o.key) && seriesOfKey.has(o.key)) {
      problems.push(`key ${o.key} (client ${o.client}, ${o.outcome}) committed but no client learned its numbers`);
    }
  }

  // Periods never go back: a request sent after another was answered from a period never gets
  // an earlier period of the same series base.
  const answered = ops
    .filter((o) => o.kind === 'next' && o.outcome === 'ok' && !o.replayed)
    .flatMap((o) => {
      const t = parseToken(o.allocation);
      return t ? [{ o, ...splitSeries(t.series) }] : [];
    });
  const latest = new Map<string, { period: string; o: HistoryOp }>();
  const byEnd = [...answered].sort((a, b) => a.o.end - b.o.end);
  let j = 0;
  for (const b of [...answered].sort((x, y) => x.o.start - y.o.start)) {
    for (; j < byEnd.length && (byEnd[j]?.o.end ?? Infinity) < b.o.start; j++) {
      const a = byEnd[j] as (typeof byEnd)[number];
      const seen = latest.get(a.base);
      if (!seen || a.period > seen.period) latest.set(a.base, { period: a.period, o: a.o });
    }
    const seen = latest.get(b.base);
    if (seen && b.period < seen.period) {
      problems.push(`period order: client ${b.o.client} sent at ${b.o.start} got period ${b.period}, after client ${seen.o.client} was answered from ${seen.period} at ${seen.o.end}`);
    }
  }
  return problems;
}

/** The checks of one series: `ops` are those whose allocation names it, `trail` its events. */
function checkSeries(ops: readonly HistoryOp[], trail: readonly TrailEvent[], options: { noHiddenHoles?: boolean }): string[] {
  const problems: string[] = [];
  const grants = new Map<number, Grant>();
  const grantsOf = new Map<number, number[]>(); // number → grant seqs, trail order
  const releaseOf = new Map<string, TrailEvent>(); // `${grant}|${n}` → release event
  const confirmOf = new Set<string>();
  const keySeqs = new Map<string, number[]>();
  for (const e of trail) {
    if (e.first === null || e.last === null) continue;
    if (e.event === 'issue' || e.event === 'refill') {
      grants.set(e.seq, { seq: e.seq, first: e.first, last: e.last, key: e.requestId });
      for (let n = e.first; n <= e.last; n++) grantsOf.set(n, [...(grantsOf.get(n) ?? []), e.seq]);
      if (e.requestId !== null) keySeqs.set(e.requestId, [...(keySeqs.get(e.requestId) ?? []), e.seq]);
    } else if ((e.event === 'release' || e.event === 'confirm') && e.allocation != null) {
      for (let n = e.first; n <= e.last; n++) {
        if (e.event === 'release') releaseOf.set(`${e.allocation}|${n}`, e);
        else confirmOf.add(`${e.allocation}|${n}`);
      }
    }
  }
  const excerpt = (n: number) => {
    const hist = ops.filter((o) => o.numbers.includes(n)).map((o) => `    client ${o.client} ${o.kind} ${o.outcome}${o.code ? ` ${o.code}` : ''} [${o.start}..${o.end}] ${o.allocation ?? ''}${o.key ? ` key ${o.key}` : ''}${o.replayed ? ' replayed' : ''}`);
    const events = trail.filter((e) => e.first !== null && e.last !== null && e.first <= n && n <= e.last).map((e) => `    #${e.seq} ${e.event} ${e.first}..${e.last}${e.allocation != null ? ` alloc ${e.allocation}` : ''}${e.reason ? ` (${e.reason})` : ''}${e.requestId ? ` key ${e.requestId}` : ''}`);
    return `\n  history of ${n}:\n${hist.join('\n')}\n  trail of ${n}:\n${events.join('\n')}`;
  };
  /** The grant that gave `n` to the allocation `ref`, if any. */
  const grantIn = (n: number, ref: { first: number; last: number }) =>
    (grantsOf.get(n) ?? []).find((g) => ref.first <= g && g <= ref.last);

  // Acknowledged allocations: in the trail, as told; one allocation per request.
  const toldBy = new Map<number, Set<string>>(); // grant → requests told (key, or a unique id)
  const ackByGrant = new Map<number, HistoryOp>();
  const tokenOfKey = new Map<string, string>();
  ops.forEach((o, i) => {
    if (o.kind !== 'next' || o.outcome !== 'ok') return;
    const ref = parseToken(o.allocation);
    if (!ref) return void problems.push(`client ${o.client}: acknowledged ${o.numbers.join(',')} without an allocation`);
    if (o.key !== undefined) {
      const earlier = tokenOfKey.get(o.key);
      if (earlier !== undefined && earlier !== o.allocation) problems.push(`key ${o.key} was answered with two allocations: ${earlier} and ${o.allocation}`);
      tokenOfKey.set(o.key, o.allocation ?? '');
    }
    for (const n of o.numbers) {
      const g = grantIn(n, ref);
      if (g === undefined) {
        problems.push(`client ${o.client}: acknowledged ${n} (allocation ${o.allocation}) is not in the trail${excerpt(n)}`);
        continue;
      }
      const who = o.key ?? `unkeyed-${i}`;
      const set = toldBy.get(g) ?? new Set<string>();
      set.add(who);
      toldBy.set(g, set);
      if (set.size > 1) problems.push(`number ${n} of allocation ${g} was told to two requests (${[...set].join(', ')})${excerpt(n)}`);
      const first = ackByGrant.get(g);
      if (!first || o.end < first.end) ackByGrant.set(g, o);
    }
  });

  // A key owns one allocation: its grant events are one request's (consecutive).
  for (const [key, seqs] of keySeqs) {
    const span = Math.max(...seqs) - Math.min(...seqs);
    if (span > seqs.length - 1) problems.push(`key ${key} holds grants ${seqs.join(',')}: more than one allocation`);
  }

  // Hand-overs: a number passes to a new allocation only after a release by the old one, sent
  // before the new holder was told.
  const releaseOps = ops.filter((o) => o.kind === 'release');
  for (const [n, seqs] of grantsOf) {
    for (let i = 0; i + 1 < seqs.length; i++) {
      const g = seqs[i] as number;
      const next = seqs[i + 1] as number;
      const rel = releaseOf.get(`${g}|${n}`);
      if (!rel || rel.seq > next) {
        problems.push(`number ${n} went from allocation ${g} to ${next} without a release by ${g} in between${excerpt(n)}`);
        continue;
      }
      const told = ackByGrant.get(g);
      if (told && rel.reason === 'undelivered') problems.push(`number ${n} of allocation ${g} was released as undelivered though client ${told.client} was told${excerpt(n)}`);
      // Expiry, undelivered and suppressed releases are the service's own, by policy.
      if (rel.reason === 'expired' || rel.reason === 'undelivered' || rel.reason === 'suppressed') continue;
      // Otherwise a call of the holder made it: one that may have taken effect. A call that
      // retried (SDK) and ended with "no longer yours" may have done it in an earlier attempt.
      const by = releaseOps.filter((o) => mayHaveActed(o) && o.numbers[0] === n && grantIn(n, parseToken(o.allocation) ?? { first: 0, last: -1 }) === g);
      const newHolder = ackByGrant.get(next);
      if (by.length === 0) {
        if (told) problems.push(`number ${n} of allocation ${g} was released (${rel.reason}) though its holder never asked${excerpt(n)}`);
      } else if (newHolder && !by.some((o) => o.start < newHolder.end)) {
        problems.push(`number ${n} was told to client ${newHolder.client} before allocation ${g} even asked to release it${excerpt(n)}`);
      }
    }
  }

  // Acknowledged releases and confirms are in the trail, by the allocation named.
  for (const o of ops) {
    if ((o.kind !== 'release' && o.kind !== 'confirm') || o.outcome !== 'ok') continue;
    const n = o.numbers[0] ?? -1;
    const ref = parseToken(o.allocation);
    const g = ref ? grantIn(n, ref) : undefined;
    const there = g !== undefined && (o.kind === 'release' ? releaseOf.has(`${g}|${n}`) : confirmOf.has(`${g}|${n}`));
    if (!there) problems.push(`client ${o.client}: acknowledged ${o.kind} of ${n} (allocation ${o.allocation}) is not in the trail${excerpt(n)}`);
  }

  // Real-time order of counter numbers (refills may go lower, by policy; replays are old numbers).
  const fresh = ops
    .filter((o) => o.kind === 'next' && o.outcome === 'ok' && !o.replayed)
    .map((o) => ({ o, counter: o.numbers.filter((n) => !(o.refilled ?? []).includes(n)) }))
    .filter((x) => x.counter.length > 0);
  const byEnd = [...fresh].sort((a, b) => a.o.end - b.o.end);
  const byStart = [...fresh].sort((a, b) => a.o.start - b.o.start);
  let j = 0;
  let highest = -Infinity;
  let highestOp: HistoryOp | null = null;
  for (const b of byStart) {
    while (j < byEnd.length && (byEnd[j]?.o.end ?? Infinity) < b.o.start) {
      const a = byEnd[j] as (typeof byEnd)[number];
      const top = Math.max(...a.counter);
      if (top > highest) {
        highest = top;
        highestOp = a.o;
      }
      j++;
    }
    const low = Math.min(...b.counter);
    if (low <= highest) {
      problems.push(
        `real-time order: client ${b.o.client} sent at ${b.o.start} got ${low}, but client ${highestOp?.client} was answered ${highest} at ${highestOp?.end}${excerpt(low)}`,
      );
    }
  }

  // No hidden holes: a number whose latest allocation reached no client must have been released
  // (undelivered, expired): a request that got no answer leaves a visible gap, never an issued
  // number nobody holds. Only when asked: the service needs time (the reservation timeout).
  if (options.noHiddenHoles) {
    const told = new Set(toldBy.keys());
    for (const [n, seqs] of grantsOf) {
      const g = seqs[seqs.length - 1] as number;
      if (!told.has(g) && !releaseOf.has(`${g}|${n}`)) problems.push(`number ${n} (allocation ${g}) reached no client and was never released${excerpt(n)}`);
    }
  }

  return problems;
}
