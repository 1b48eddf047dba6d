import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { rng } from '../helpers/rng.js';
import { memberHealthy } from '../../src/cluster/etcd-cluster.js';
import { etcdMissing, startTestCluster, waitLeader, type TestCluster } from '../helpers/etcd-cluster.js';
import { spawnSeqd, type SeqdProcess } from '../helpers/seqd-process.js';
import { SeqdClient } from '../../src/client/index.js';
import { SeqdApiError } from '../../src/client/seqd-api-error.js';
import { checkHistory, type ClientOutcome, type HistoryOp, type TrailEvent } from '../helpers/history-checker.js';
import { fakeClockEnv, fakeClockMissing } from '../helpers/fake-clock.js';
import { ReplyDropper } from '../helpers/reply-dropper.js';
import { Network, type Proxy } from '../helpers/network.js';

/**
 * Fault injection against a real 3-member etcd cluster and two seqd instances (child processes)
 * under load from 16 clients using the SDK (an idempotency key on every next, retries across
 * instances, releases and confirms naming their allocation). Every call is recorded with its send
 * and answer times and outcome (ok / failed / unknown); after the faults every key whose outcome
 * a client never learned is sent again, and the history checker holds the audit trail to what
 * clients were told.
 *
 * Every link between the processes runs through the test network's proxies, so a seed's schedule
 * draws from two pools: crashes and pauses (etcd leader or follower, quorum, seqd instances, lost
 * answers) and network faults (a minority leader, an instance cut off from etcd but not from its
 * peer, a slow member, a one-way link, cut forwarding, resets, a partition healing under load).
 * Five random seeds per run; SEQD_FAULT_SEEDS="1,2" replays given ones.
 */
const CLIENTS = 16;
const REQUEST_TIMEOUT_MS = 4000;
/** Unconfirmed numbers expire under the faults too. */
const RESERVATION_TIMEOUT_S = 4;
/** The instances' clocks reach a new year this long after start-up, 300 ms apart (faketime). */
const MIDNIGHT_AFTER_MS = 16_000;
const CLOCK_SKEW_MS = 300;
/** Faults of each family in one seed's schedule, drawn at random from the pools below. */
const PROCESS_FAULTS = 2;
const NETWORK_FAULTS = 2;
const SEEDS = (process.env.SEQD_FAULT_SEEDS ?? [1, 7, 13, 19, 23].map((k) => (Date.now() * k) % 100000).join(','))
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n));

interface Fault {
  readonly name: string;
  readonly start: number;
  end: number;
  /** Time after which no request may succeed until `end` (quorum lost), if any. */
  closedFrom?: number;
}


const missing = etcdMissing() ?? fakeClockMissing();

describe('HA fault injection: 3 etcd members, 2 seqd instances, 16 clients', { skip: missing ?? false }, () => {
  for (const seed of SEEDS) {
    describe(`seed ${seed}`, () => {
      let tc: TestCluster;
      let dir: string;
      let configFile: string;
      const instances: (SeqdProcess | null)[] = [null, null];
      /** Clients reach each instance through a proxy that can lose answers after the commit. */
      const droppers: ReplyDropper[] = [];
      const clockEnv: Record<string, string>[] = [];
      /** Every link between processes runs through it: seqd-N → mN (etcd clients), mN ↔ mM (raft), seqd-1 ↔ seqd-2 (forwarding). */
      const network = new Network();
      /** Per instance: its own proxy to each etcd member, and the proxy the other instance forwards through. */
      const etcdEndpoints: string[] = [];
      const forwardProxies: Proxy[] = [];
      const startInstance = async (i: number) => {
        const p = await spawnSeqd(['--config', configFile], {
          SEQ_DATA_DIR: join(dir, `node-${i}`),
          SEQ_NODE_ID: `seqd-${i + 1}`,
          SEQ_ETCD_ENDPOINTS: etcdEndpoints[i] ?? '',
          SEQ_ADVERTISE_URL: forwardProxies[i]?.url ?? '',
          ...clockEnv[i],
        });
        instances[i] = p;
        forwardProxies[i]?.retarget(Number(new URL(p.url).port));
        const dropper = droppers[i];
        if (dropper) dropper.retarget(p.url);
        else droppers[i] = await ReplyDropper.start(p.url, rng(seed * 7 + i));
      };

      before(async () => {
        tc = await startTestCluster({ heartbeatMs: 100, electionMs: 1000, network });
        dir = mkdtempSync(join(tmpdir(), 'seqd-ha-'));
        for (const i of [0, 1]) {
          const me = `seqd-${i + 1}`;
          const viaProxies = await Promise.all(tc.cluster.members.map((m) => network.proxy(m.name, m.clientPort, { from: me })));
          etcdEndpoints.push(viaProxies.map((x) => x.url).join(','));
          forwardProxies.push(await network.proxy(me, 9, { from: `seqd-${2 - i}` }));
        }
        // Both instances cross a (UTC) new year during the load, instance 2 slightly ahead.
        const midnight = Date.UTC(new Date().getUTCFullYear() + 1, 0, 1);
        const offset = midnight - (Date.now() + MIDNIGHT_AFTER_MS);
        clockEnv.push(fakeClockEnv(offset), fakeClockEnv(offset + CLOCK_SKEW_MS));
        configFile = join(dir, 'ha.yml');
        writeFileSync(
          configFile,
          `sequence:\n  core:\n    reservation-timeout-seconds: ${RESERVATION_TIMEOUT_S}\n  series:\n    rollover: { enabled: true, time-zone: UTC, close-after-seconds: 10 }\n  storage: etcd\n  etcd:\n    embedded: false\n    request-timeout-ms: 500\n    endpoints: [${tc.cluster.endpoints.map((e) => `"${e}"`).join(', ')}]\n`,
        );
        await Promise.all([startInstance(0), startInstance(1)]);
      });
      after(async () => {
        for (const d of droppers) await d.close();
        for (const p of instances) p?.child.kill('SIGKILL');
        await tc?.dispose();
        await network.close();
        rmSync(dir, { recursive: true, force: true });
      });

      it('numbers requested alternately from the two instances are strictly consecutive', async () => {
        const got: number[] = [];
        for (let i = 0; i < 20; i++) {
          const inst = instances[i % 2];
          assert.ok(inst);
          const res = await fetch(`${inst.url}/api/v1/sequence/next?siteId=site-${1 + (i % 2)}&partitionId=partition-a&invoiceType=on-cycle`);
          assert.equal(res.status, 200);
          got.push(((await res.json()) as { sequenceNumber: number }).sequenceNumber);
        }
        assert.deepEqual(got, got.map((_, i) => (got[0] ?? 0) + i));
      });

      it('keeps every guarantee through a random schedule of process and network faults', async () => {
        const random = rng(seed);
        const t0 = Date.now();
        const now = () => Date.now() - t0;
        const recs: HistoryOp[] = [];
        const faults: Fault[] = [];
        let stop = false;
        const sites = [
          ['site-1', 'partition-a'],
          ['site-1', 'partition-b'],
          ['site-2', 'partition-a'],
          ['site-2', 'partition-b'],
        ] as const;

        /** An SDK over the live instances, the client's preferred one first. */
        const sdk = (preferred: number) => {
          const urls = [preferred, 1 - preferred].flatMap((i) => (instances[i] && droppers[i] ? [droppers[i].url] : []));
          return new SeqdClient({ urls: urls.length ? urls : ['http://127.0.0.1:9'], timeoutMs: REQUEST_TIMEOUT_MS, attempts: 3 });
        };
        /** Runs one SDK call and records it; a retryable final error (no answer, 503) is unknown. */
        const record = async <T>(op: HistoryOp, call: () => Promise<T>, onOk: (r: T) => void): Promise<HistoryOp> => {
          try {
            onOk(await call());
            op.outcome = 'ok';
          } catch (error) {
            const e = error instanceof SeqdApiError ? error : null;
            op.outcome = e && !e.retryable ? 'failed' : 'unknown';
            op.code = e?.code ?? String(error);
          }
          op.end = now();
          recs.push(op);
          return op;
        };
        const nextOp = (client: number, key: string) => ({ kind: 'next' as const, client, key, start: now(), end: 0, outcome: 'unknown' as ClientOutcome, numbers: [] as number[] });
        const takeNext = (id: number, instance: number, key: string, site: string, partition: string) => {
          const op: HistoryOp = nextOp(id, key);
          return record(op, () => sdk(instance).next({ siteId: site, partitionId: partition, invoiceType: 'on-cycle', idempotencyKey: key }), (r) => {
            op.numbers = r.numbers;
            op.refilled = r.refilled;
            op.allocation = r.allocation;
            op.replayed = r.replayed;
          });
        };

        const takeUnkeyed = async (id: number, instance: number, site: string, partition: string) => {
          const op: HistoryOp = { kind: 'next', client: id, start: now(), end: 0, outcome: 'unknown', numbers: [] };
          const proxy = instances[instance] ? droppers[instance] : undefined;
          try {
            if (!proxy) throw new Error('instance down');
            const res = await fetch(`${proxy.url}/api/v1/sequence/next`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ siteId: site, partitionId: partition, invoiceType: 'on-cycle' }),
              signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
            });
            const body = (await res.json()) as { numbers?: number[]; refilled?: number[]; allocation?: string; error?: { code: string } };
            op.outcome = res.ok ? 'ok' : res.status === 503 ? 'unknown' : 'failed';
            op.code = body.error?.code;
            if (res.ok) Object.assign(op, { numbers: body.numbers ?? [], refilled: body.refilled, allocation: body.allocation });
          } catch (error) {
            // A timeout may have committed; a refused connection did not reach seqd at all.
            op.outcome = (error as Error).name === 'TimeoutError' ? 'unknown' : 'failed';
            op.code = String(error);
          }
          op.end = now();
          recs.push(op);
          return op;
        };

        const client = async (id: number) => {
          const r = rng(seed * 100 + id);
          let instance = id % 2;
          const [site, partition] = sites[id % sites.length] ?? sites[0];
          const held: { n: number; allocation: string }[] = [];
          for (let i = 0; !stop; i++) {
            const act = { client: id, start: now(), end: 0, outcome: 'unknown' as ClientOutcome };
            const h = held.length > 2 && r() < 0.12 ? held.shift() : undefined;
            if (h) {
              const params = { sequenceNumber: h.n, siteId: site, partitionId: partition, allocation: h.allocation };
              const confirm = r() < 0.5;
              const op: HistoryOp = { ...act, kind: confirm ? 'confirm' : 'release', numbers: [h.n], allocation: h.allocation };
              const call = (): Promise<{ alreadyReleased?: boolean }> =>
                confirm ? sdk(instance).confirm(params).then(() => ({})) : sdk(instance).release({ ...params, reason: `faults-${seed}` });
              await record(op, call, (res) => (op.alreadyReleased = res.alreadyReleased));
              continue;
            }
            // One request in ten the seed way, without a key and without retries: when its answer
            // is lost, the service must leave a visible gap, not a number issued to nobody.
            const op = r() < 0.1 ? await takeUnkeyed(id, instance, site, partition) : await takeNext(id, instance, `c${id}-${i}`, site, partition);
            if (op.outcome === 'ok' && !op.replayed && op.allocation) for (const n of op.numbers) held.push({ n, allocation: op.allocation });
            if (op.outcome !== 'ok') {
              instance = 1 - instance; // move to the other instance
              await sleep(50);
            }
          }
        };

        const running = Array.from({ length: CLIENTS }, (_, i) => client(i));
        const cluster = tc.cluster;
        const fault = async (name: string, inject: (f: Fault) => Promise<void>, heal: () => Promise<void>, holdMs: number) => {
          const f: Fault = { name, start: now(), end: 0 };
          faults.push(f);
          await inject(f);
          await sleep(holdMs);
          await heal();
          f.end = now();
          await cluster.waitHealthy(20_000);
          await waitLeader(cluster);
          await sleep(1500);
        };

        const names = cluster.members.map((m) => m.name);
        const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
        const heal = async () => network.heal();
        const blackhole = { kind: 'blackhole' } as const;
        /** Crashes and pauses of processes, and lost answers. */
        const processFaults: (() => Promise<void>)[] = [
          async () => {
            const leader = await waitLeader(cluster);
            await fault(`kill -9 etcd leader ${leader}`, () => cluster.killMember(leader), () => cluster.restartMember(leader), 3000);
          },
          async () => {
            const leader = await waitLeader(cluster);
            const follower = pick(names.filter((n) => n !== leader));
            await fault(`kill -9 etcd follower ${follower}`, () => cluster.killMember(follower), () => cluster.restartMember(follower), 2000);
          },
          async () => {
            const paused = pick(names);
            await fault(`SIGSTOP etcd member ${paused} for 3 s`, async () => void cluster.signal(paused, 'SIGSTOP'), async () => void cluster.signal(paused, 'SIGCONT'), 3000);
          },
          async () => {
            const leader = await waitLeader(cluster);
            const two = names.filter((n) => n !== leader);
            await fault(
              `stop two etcd members (${two.join(', ')}): no quorum`,
              async (f) => {
                await Promise.all(two.map((n) => cluster.killMember(n)));
                f.closedFrom = now();
              },
              async () => void (await Promise.all(two.map((n) => cluster.restartMember(n)))),
              3000,
            );
          },
          () =>
            fault(
              'lose 30% of the answers after the commit for 3 s',
              async () => droppers.forEach((d) => (d.dropRate = 0.3)),
              async () => droppers.forEach((d) => (d.dropRate = 0)),
              3000,
            ),
          // The instance with the smallest node id commits for both: pause it mid-commit.
          () =>
            fault(
              'SIGSTOP seqd instance 1 (the committing one) for 3 s',
              async () => void instances[0]?.child.kill('SIGSTOP'),
              async () => void instances[0]?.child.kill('SIGCONT'),
              3000,
            ),
          async () => {
            const victim = random() < 0.5 ? 0 : 1;
            await fault(
              `kill -9 seqd instance ${victim + 1}`,
              async () => {
                const p = instances[victim];
                instances[victim] = null;
                p?.child.kill('SIGKILL');
                await p?.exited;
              },
              () => startInstance(victim),
              2000,
            );
          },
        ];
        /** Partitions, one-way links and slow links (the test network's rules). */
        const networkFaults: (() => Promise<void>)[] = [
          async () => {
            const leader = await waitLeader(cluster);
            await fault(`etcd leader ${leader} cut off from both followers (a minority leader) for 3 s`, async () => network.isolate(leader, names.filter((n) => n !== leader)), heal, 3000);
          },
          () => fault('seqd instance 1 (the committing one) cut off from every etcd member, not from instance 2, for 3 s', async () => network.isolate('seqd-1', names), heal, 3000),
          () => fault('seqd instance 2 cut off from every etcd member for 3 s', async () => network.isolate('seqd-2', names), heal, 3000),
          async () => {
            const slow = pick(names);
            const others = [...names.filter((n) => n !== slow), 'seqd-1', 'seqd-2'];
            await fault(`etcd member ${slow} behind a 200 ms delay (to and from peers and instances) for 4 s`, async () => network.isolate(slow, others, { kind: 'delay', ms: 200 }), heal, 4000);
          },
          async () => {
            const leader = await waitLeader(cluster);
            const follower = pick(names.filter((n) => n !== leader));
            await fault(`one-way cut: etcd leader ${leader} → ${follower} (the other way passes) for 3 s`, async () => network.set(leader, follower, blackhole), heal, 3000);
          },
          () => fault('forwarding between the seqd instances cut (both ways) for 3 s', async () => network.set('seqd-1', 'seqd-2', blackhole, true), heal, 3000),
          () => fault('every seqd → etcd connection reset, and new ones refused, for 2 s', async () => names.forEach((n) => ['seqd-1', 'seqd-2'].forEach((s) => network.set(s, n, { kind: 'reset' }))), heal, 2000),
          async () => {
            const flaps = Array.from({ length: 3 }, () => pick(names));
            await fault(
              `partition healing under load: ${flaps.join(', ')} cut off from everyone for 0.7 s in turn`,
              async () => {
                for (const m of flaps) {
                  network.isolate(m, [...names.filter((n) => n !== m), 'seqd-1', 'seqd-2']);
                  await sleep(700);
                  network.heal();
                  await sleep(700);
                }
              },
              heal,
              0,
            );
          },
        ];
        /** A random schedule per seed: some of each family, in a random order. */
        const shuffle = <T>(xs: T[]): T[] => xs.map((x) => ({ x, k: random() })).sort((p, q) => p.k - q.k).map((y) => y.x);
        const schedule = shuffle([...shuffle(processFaults).slice(0, PROCESS_FAULTS), ...shuffle(networkFaults).slice(0, NETWORK_FAULTS)]);
        await sleep(1500);
        for (const run of schedule) await run();

        stop = true;
        await Promise.all(running);
        assert.ok(await memberHealthy(cluster.endpoints[0] ?? ''), 'cluster healthy at the end');

        // ---- settle what clients never learned: send every such key again ----
        const learned = new Set(recs.filter((r) => r.kind === 'next' && r.outcome === 'ok').map((r) => r.key));
        const unsettled = recs.filter((r) => r.kind === 'next' && r.outcome !== 'ok' && !learned.has(r.key));
        for (const r of unsettled) {
          const [site, partition] = sites[r.client % sites.length] ?? sites[0];
          const again = await takeNext(r.client, r.client % 2, r.key ?? '', site, partition);
          assert.ok(again.outcome === 'ok' || again.code === 'REPLAYED_NUMBERS_CHANGED', `seed ${seed}: re-sent key ${r.key} failed: ${again.code}`);
        }

        // ---- the checker: the history against the trail ----
        // Numbers that reached nobody are released as undelivered at once, or expire: the
        // sweepers may have a backlog after the faults, so the trail is read again until they
        // are done (at most a minute); nothing else the checker finds goes away by waiting.
        const live = instances.find((p): p is SeqdProcess => p !== null);
        assert.ok(live);
        const B = live.url;
        const readTrail = async () => {
          const trail: TrailEvent[] = [];
          const listed = (await (await fetch(`${B}/api/v1/sequence/series`)).json()) as { series: { name: string; highWaterMark: number }[] };
          for (const { name } of listed.series) {
            let cursor = 0;
            for (;;) {
              const res = await fetch(`${B}/api/v1/audit?series=${encodeURIComponent(name)}&order=asc&limit=1000&cursor=${cursor}`);
              const page = (await res.json()) as { events: TrailEvent[]; nextCursor: number | null };
              trail.push(...page.events);
              if (page.nextCursor === null) break;
              cursor = page.nextCursor;
            }
          }
          return { trail, listed };
        };
        await sleep(RESERVATION_TIMEOUT_S * 1000);
        let { trail, listed } = await readTrail();
        let problems = checkHistory(recs, trail, { noHiddenHoles: true });
        const holesOnly = () => problems.length > 0 && problems.every((p) => p.includes('reached no client'));
        for (let waited = 0; waited < 60_000 && holesOnly(); waited += 3000) {
          await sleep(3000);
          ({ trail, listed } = await readTrail());
          problems = checkHistory(recs, trail, { noHiddenHoles: true });
        }
        // What the instances said about expiry: why a number was passed by is in there, if anywhere.
        const sweepLog = () =>
          instances
            .map((p, i) => `instance ${i + 1}:\n${(p?.output() ?? '').split('\n').filter((l) => /expir|sweep|rollover/i.test(l)).slice(-8).join('\n')}`)
            .join('\n');
        // And what the service answers a release of the first such number, as its holder would ask.
        const releaseAnswer = async () => {
          const m = /^\[(.+)\] number (\d+) \(allocation (\d+)\)/.exec(problems[0] ?? '');
          const issued = m && (trail.find((e) => e.seq === Number(m[3]) && (e.series ?? 'global') === m[1]) as (TrailEvent & { siteId?: string; partitionId?: string }) | undefined);
          if (!m || !issued) return '';
          const body = { sequenceNumber: Number(m[2]), siteId: issued.siteId, partitionId: issued.partitionId, allocation: `${m[1]}#${m[3]}`, reason: 'diagnosis' };
          const res = await fetch(`${B}/api/v1/sequence/release`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
          return `\na release of ${m[2]} now answers ${res.status} ${await res.text()}`;
        };
        const diagnosis = holesOnly() ? `\n${sweepLog()}${await releaseAnswer()}` : '';
        assert.deepEqual(problems.slice(0, 5), [], `seed ${seed}: ${problems.length} problem(s) in the history${diagnosis}`);
        const verify = (await (await fetch(`${B}/api/v1/audit/verify`)).json()) as { valid: boolean };
        assert.equal(verify.valid, true, `seed ${seed}: ${JSON.stringify(verify).slice(0, 2000)}`);
        for (const { name, highWaterMark } of listed.series) {
          const told = recs.flatMap((r) => (r.kind === 'next' && r.outcome === 'ok' && r.allocation?.startsWith(`${name}#`) ? r.numbers : []));
          assert.ok(highWaterMark >= Math.max(0, ...told), `seed ${seed}: HWM of ${name} below an acknowledged number`);
        }

        // Fail closed: nothing may succeed that started after quorum was lost and ended before it returned.
        for (const f of faults) {
          if (f.closedFrom === undefined) continue;
          const closed = f.closedFrom;
          const bad = recs.filter((r) => r.outcome === 'ok' && r.start > closed && r.end < f.end);
          assert.equal(bad.length, 0, `seed ${seed}: ${bad.length} requests succeeded without quorum`);
        }

        const counts = { ok: 0, failed: 0, unknown: 0 };
        for (const r of recs) counts[r.outcome]++;
        const released = trail.filter((e) => e.event === 'release');
        const byReason = (reason: string) => released.filter((e) => e.reason === reason).length;
        const codes = new Map<string, number>();
        for (const r of recs) if (r.outcome !== 'ok') codes.set(r.code ?? '?', (codes.get(r.code ?? '?') ?? 0) + 1);
        const oks = recs.filter((r) => r.outcome === 'ok').map((r) => r.end).sort((a, b) => a - b);
        const lines = faults.map((f, i) => {
          // From the fault until the next one starts (at most 5 s after healing): no double counting.
          const until = Math.min(f.end + 5000, faults[i + 1]?.start ?? Infinity);
          const inWindow = [f.start, ...oks.filter((t) => t >= f.start && t <= until)];
          let stall = 0;
          for (let i = 1; i < inWindow.length; i++) stall = Math.max(stall, (inWindow[i] ?? 0) - (inWindow[i - 1] ?? 0));
          const during = recs.filter((r) => r.start >= f.start && r.start <= until);
          const failed = during.filter((r) => r.outcome === 'failed').length;
          const unknown = during.filter((r) => r.outcome === 'unknown').length;
          return `  ${f.name}: longest stall ${stall} ms; ${during.length} calls, ${failed} failed, ${unknown} unknown`;
        });
        console.log(
          `fault seed ${seed}: ${recs.length} calls: ${counts.ok} ok, ${counts.failed} failed, ${counts.unknown} unknown (${unsettled.length} keys re-sent); ` +
            `not ok: ${[...codes].map(([c, k]) => `${c} ${k}`).join(', ')}; ` +
            `releases: ${byReason(`faults-${seed}`)} by clients, ${byReason('expired')} expired, ${byReason('undelivered')} undelivered; ` +
            `${droppers.reduce((a, d) => a + d.dropped, 0)} answers lost; series ${listed.series.map((x) => `${x.name} HWM ${x.highWaterMark}`).join(', ')}\n${lines.join('\n')}`,
        );
        assert.ok(counts.ok > 500, `seed ${seed}: too little load got through (${counts.ok} ok)`);
      });
    });
  }
});
