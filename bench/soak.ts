/**
 * The fault soak: the HA topology (3 etcd members, 2 seqd instances, every link through the test
 * network) under load from 16 recording clients while every fault kind is injected in turn, in a
 * new random order each round, for as long as asked. After each round the history checker holds
 * the round's calls to the audit trail. etcd compacts itself every minute; members are
 * defragmented one at a time every few minutes. Writes a report: calls and outcomes, stalls per
 * fault kind, violations, and the etcd database size over time. Exit code 1 on any violation.
 *
 *   npm run soak -- [--minutes 30] [--seed N] [--defrag-minutes 5] [--out soak-report]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { etcdMissing } from '../test/helpers/etcd-cluster.js';
import { HaHarness } from '../test/helpers/ha-harness.js';
import { rng } from '../test/helpers/rng.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    seed: { type: 'string', default: String(Date.now() % 100000) },
    'defrag-minutes': { type: 'string', default: '5' },
    out: { type: 'string', default: 'soak-report' },
  },
});
const minutes = Number(values.minutes);
const seed = Number(values.seed);
const defragEveryMs = Number(values['defrag-minutes']) * 60_000;
if (!(minutes > 0) || !Number.isInteger(seed) || !(defragEveryMs > 0)) {
  console.error('usage: npm run soak -- [--minutes 30] [--seed N] [--defrag-minutes 5] [--out soak-report]');
  process.exit(2);
}
const missing = etcdMissing();
if (missing) {
  console.error(`soak: ${missing}`);
  process.exit(2);
}

const log = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const endAt = Date.now() + minutes * 60_000;
const random = rng(seed);
log(`soak: ${minutes} min, seed ${seed}; starting 3 etcd members and 2 seqd instances`);
const h = await HaHarness.start({ seed, reservationTimeoutS: 4 });

interface KindStats {
  runs: number;
  stallsMs: number[];
  calls: number;
  failed: number;
  unknown: number;
}
const byKind = new Map<string, KindStats>();
const totals = { calls: 0, ok: 0, failed: 0, unknown: 0, resent: 0 };
const violations: string[] = [];
/** Per member: the file's size, and the part of it holding data (the rest is free pages a defragmentation gives back). */
const dbSizes: { atS: number; members: Record<string, number | null>; inUse: Record<string, number | null> }[] = [];
const defrags: { atS: number; member: string; ms: number; ok: boolean }[] = [];

const statusOf = async (clientUrl: string) => {
  try {
    const res = await fetch(`${clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(2000) });
    return (await res.json()) as { dbSize?: string; dbSizeInUse?: string };
  } catch {
    return null;
  }
};
const sampleDb = async () => {
  const members: Record<string, number | null> = {};
  const inUse: Record<string, number | null> = {};
  for (const m of h.cluster.members) {
    const s = await statusOf(m.clientUrl);
    members[m.name] = s?.dbSize === undefined ? null : Number(s.dbSize);
    inUse[m.name] = s?.dbSizeInUse === undefined ? null : Number(s.dbSizeInUse);
  }
  dbSizes.push({ atS: Math.round(h.now() / 1000), members, inUse });
};
let nextDefrag = Date.now() + defragEveryMs;
/** Defragments one member at a time (each blocks that member for a moment). */
const defragment = async () => {
  for (const m of h.cluster.members) {
    const t = Date.now();
    let ok = false;
    try {
      ok = (await fetch(`${m.clientUrl}/v3/maintenance/defragment`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(30_000) })).ok;
    } catch {
      ok = false;
    }
    defrags.push({ atS: Math.round(h.now() / 1000), member: m.name, ms: Date.now() - t, ok });
    log(`defragment ${m.name}: ${ok ? 'done' : 'failed'} in ${Date.now() - t} ms`);
  }
};
let sampling = true;
const sampler = (async () => {
  while (sampling) {
    await sampleDb();
    await sleep(15_000);
  }
})();

const mb = (b: number | null | undefined) => (b == null ? '-' : `${(b / 1048576).toFixed(1)} MB`);
try {
  for (let round = 1; Date.now() < endAt; round++) {
    const after = await h.trailEnds();
    const first = h.faults.length;
    const clients = h.runClients(`r${round}-`);
    const kinds = h.faultKinds(random).map((k) => ({ k, order: random() })).sort((a, b) => a.order - b.order).map((x) => x.k);
    await sleep(1000);
    for (const k of kinds) {
      if (Date.now() >= endAt) break;
      await k.run();
      log(`round ${round}: ${h.faults[h.faults.length - 1]?.name ?? k.kind}`);
      if (Date.now() >= nextDefrag) {
        await defragment();
        nextDefrag = Date.now() + defragEveryMs;
      }
    }
    const ops = await clients.stop();
    totals.resent += await h.settle(ops);
    const { problems } = await h.check(ops, after);
    const verify = (await (await fetch(`${h.liveUrl}/api/v1/audit/verify`)).json()) as { valid: boolean };
    const unclosed = h.succeededWithoutQuorum(ops);
    const found = [...problems, ...(verify.valid ? [] : [`verify: ${JSON.stringify(verify).slice(0, 500)}`]), ...unclosed.map((o) => `client ${o.client}: succeeded without quorum`)];
    violations.push(...found.map((p) => `round ${round}: ${p}`));
    for (const o of ops) {
      totals.calls++;
      totals[o.outcome]++;
    }
    for (const s of h.faultStats(ops, h.faults.slice(first))) {
      const k = byKind.get(s.fault.kind) ?? { runs: 0, stallsMs: [], calls: 0, failed: 0, unknown: 0 };
      k.runs++;
      k.stallsMs.push(s.stallMs);
      k.calls += s.calls;
      k.failed += s.failed;
      k.unknown += s.unknown;
      byKind.set(s.fault.kind, k);
    }
    const last = dbSizes[dbSizes.length - 1];
    log(`round ${round} checked: ${ops.length} calls, ${found.length} violation(s); etcd db ${Object.entries(last?.members ?? {}).map(([n, b]) => `${n}=${mb(b)}`).join(' ')}`);
    if (found.length > 0) log(found.slice(0, 3).join('\n'));
  }
} finally {
  sampling = false;
  await sampler;
  await sampleDb();
  await h.dispose();
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const kinds = [...byKind].sort(([a], [b]) => a.localeCompare(b)).map(([kind, k]) => ({ kind, runs: k.runs, stallMedianMs: median(k.stallsMs), stallMaxMs: Math.max(0, ...k.stallsMs), calls: k.calls, failed: k.failed, unknown: k.unknown }));
const report = { minutes, seed, totals, violations: violations.length, firstViolations: violations.slice(0, 20), kinds, dbSizes, defrags };
writeFileSync(`${values.out}.json`, `${JSON.stringify(report, null, 2)}\n`);
const peak = (name: string) => Math.max(0, ...dbSizes.map((d) => d.members[name] ?? 0));
const md = [
  `# Fault soak: ${minutes} min, seed ${seed}`,
  '',
  `${totals.calls} calls: ${totals.ok} ok, ${totals.failed} failed, ${totals.unknown} unknown (${totals.resent} keys re-sent and settled). **Violations: ${violations.length}.**`,
  '',
  '| fault kind | runs | stall median | stall max | calls during | failed | unknown |',
  '|---|---|---|---|---|---|---|',
  ...kinds.map((k) => `| ${k.kind} | ${k.runs} | ${k.stallMedianMs} ms | ${k.stallMaxMs} ms | ${k.calls} | ${k.failed} | ${k.unknown} |`),
  '',
  `etcd database size (peak): ${h.cluster.members.map((m) => `${m.name} ${mb(peak(m.name))}`).join(', ')}; ${defrags.length} defragmentations.`,
  '',
  'Size of each member\'s file / the part in use:',
  '',
  '| time | ' + h.cluster.members.map((m) => m.name).join(' | ') + ' |',
  '|---|' + h.cluster.members.map(() => '---|').join(''),
  ...dbSizes.filter((_, i) => i % 4 === 0 || i === dbSizes.length - 1).map((d) => `| ${d.atS} s | ${h.cluster.members.map((m) => `${mb(d.members[m.name])} / ${mb(d.inUse[m.name])}`).join(' | ')} |`),
  '',
].join('\n');
writeFileSync(`${values.out}.md`, md);
console.log(md);
process.exit(violations.length > 0 ? 1 : 0);
