import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SeqdClient } from '../../src/client/index.js';
import { SeqdApiError } from '../../src/client/seqd-api-error.js';
import { startTestCluster, waitLeader, type TestCluster } from './etcd-cluster.js';
import { fakeClockEnv } from './fake-clock.js';
import { checkHistory, type ClientOutcome, type HistoryOp, type TrailEvent } from './history-checker.js';
import { Network, type Proxy } from './network.js';
import { ReplyDropper } from './reply-dropper.js';
import { rng } from './rng.js';
import { spawnSeqd, type SeqdProcess } from './seqd-process.js';

/**
 * The HA fault harness shared by the fault test and the soak: a real 3-member etcd cluster and two
 * seqd instances (child processes) with every link between them through the test network
 * (seqd-N → mN etcd clients, mN ↔ mM raft, seqd-1 ↔ seqd-2 forwarding), clients that record
 * every call (send and answer times, key, outcome), the fault pools, and the history check.
 */

export interface Fault {
  readonly name: string;
  /** The pool entry it came from (one name per kind, for reports). */
  readonly kind: string;
  readonly start: number;
  end: number;
  /** Time after which no request may succeed until `end` (quorum lost), if any. */
  closedFrom?: number;
}

export interface FaultKind {
  readonly kind: string;
  readonly family: 'process' | 'network';
  run(): Promise<void>;
}

export interface HarnessOptions {
  readonly seed: number;
  readonly clients?: number;
  readonly reservationTimeoutS?: number;
  /**
   * When set, both instances' clocks (faketime) reach a UTC new year this long after start-up,
   * instance 2 `clockSkewMs` ahead, and rollover closes the old year's series.
   */
  readonly newYearAfterMs?: number;
  readonly clockSkewMs?: number;
  /** `sequence.etcd.pipeline-depth` of both instances (default 1). */
  readonly pipelineDepth?: number;
  /** `sequence.etcd.route-to-leader` of both instances (default false: transactions spread over the members). */
  readonly routeToLeader?: boolean;
}

const SITES = [
  ['site-1', 'partition-a'],
  ['site-1', 'partition-b'],
  ['site-2', 'partition-a'],
  ['site-2', 'partition-b'],
] as const;
const REQUEST_TIMEOUT_MS = 4000;

export class HaHarness {
  readonly network = new Network();
  readonly instances: (SeqdProcess | null)[] = [null, null];
  /** The output of every instance started, killed ones too. */
  private readonly outputs: (() => string)[] = [];
  /** Clients reach each instance through a proxy that can lose answers after the commit. */
  readonly droppers: ReplyDropper[] = [];
  readonly faults: Fault[] = [];
  readonly t0 = Date.now();
  tc!: TestCluster;
  private dir = '';
  private configFile = '';
  private readonly clockEnv: Record<string, string>[] = [{}, {}];
  private readonly etcdEndpoints: string[] = [];
  private readonly forwardProxies: Proxy[] = [];

  private constructor(readonly o: HarnessOptions) {}

  static async start(o: HarnessOptions): Promise<HaHarness> {
    const h = new HaHarness(o);
    await h.setUp();
    return h;
  }

  now(): number {
    return Date.now() - this.t0;
  }

  get cluster() {
    return this.tc.cluster;
  }

  /** A live instance's URL (for reads). */
  get liveUrl(): string {
    const live = this.instances.find((p): p is SeqdProcess => p !== null);
    if (!live) throw new Error('no seqd instance is running');
    return live.url;
  }

  private async setUp(): Promise<void> {
    const { network } = this;
    this.tc = await startTestCluster({ heartbeatMs: 100, electionMs: 1000, network });
    this.dir = mkdtempSync(join(tmpdir(), 'seqd-ha-'));
    for (const i of [0, 1]) {
      const me = `seqd-${i + 1}`;
      const viaProxies = await Promise.all(this.cluster.members.map((m) => network.proxy(m.name, m.clientPort, { from: me })));
      this.etcdEndpoints.push(viaProxies.map((x) => x.url).join(','));
      this.forwardProxies.push(await network.proxy(me, 9, { from: `seqd-${2 - i}` }));
    }
    let rollover = '';
    if (this.o.newYearAfterMs !== undefined) {
      const midnight = Date.UTC(new Date().getUTCFullYear() + 1, 0, 1);
      const offset = midnight - (Date.now() + this.o.newYearAfterMs);
      this.clockEnv.splice(0, 2, fakeClockEnv(offset), fakeClockEnv(offset + (this.o.clockSkewMs ?? 0)));
      rollover = '  series:\n    rollover: { enabled: true, time-zone: UTC, close-after-seconds: 10, check-interval-seconds: 2 }\n';
    }
    this.configFile = join(this.dir, 'ha.yml');
    writeFileSync(
      this.configFile,
      `sequence:\n  core:\n    reservation-timeout-seconds: ${this.o.reservationTimeoutS ?? 4}\n${rollover}  storage: etcd\n  etcd:\n    embedded: false\n    request-timeout-ms: 500\n    pipeline-depth: ${this.o.pipelineDepth ?? 1}\n    route-to-leader: ${this.o.routeToLeader ?? false}\n    endpoints: [${this.cluster.endpoints.map((e) => `"${e}"`).join(', ')}]\n`,
    );
    await Promise.all([this.startInstance(0), this.startInstance(1)]);
  }

  async startInstance(i: number): Promise<void> {
    const p = await spawnSeqd(['--config', this.configFile], {
      SEQ_DATA_DIR: join(this.dir, `node-${i}`),
      SEQ_NODE_ID: `seqd-${i + 1}`,
      SEQ_ETCD_ENDPOINTS: this.etcdEndpoints[i] ?? '',
      SEQ_ADVERTISE_URL: this.forwardProxies[i]?.url ?? '',
      ...this.clockEnv[i],
    });
    this.instances[i] = p;
    this.outputs.push(p.output);
    this.forwardProxies[i]?.retarget(Number(new URL(p.url).port));
    const dropper = this.droppers[i];
    if (dropper) dropper.retarget(p.url);
    else this.droppers[i] = await ReplyDropper.start(p.url, rng(this.o.seed * 7 + i));
  }

  /** Lines any instance wrote that match `pattern` (gRPC's complaints, for one). */
  logLines(pattern: RegExp): string[] {
    return this.outputs.flatMap((o) => o().split('\n').filter((l) => pattern.test(l)));
  }

  async dispose(): Promise<void> {
    for (const d of this.droppers) await d.close();
    for (const p of this.instances) p?.child.kill('SIGKILL');
    await this.tc?.dispose();
    await this.network.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  // ---- clients ----

  /** An SDK over the live instances, the preferred one first. */
  private sdk(preferred: number): SeqdClient {
    const urls = [preferred, 1 - preferred].flatMap((i) => (this.instances[i] && this.droppers[i] ? [this.droppers[i].url] : []));
    return new SeqdClient({ urls: urls.length ? urls : ['http://127.0.0.1:9'], timeoutMs: REQUEST_TIMEOUT_MS, attempts: 3 });
  }

  /** Runs one SDK call and records it into `into`; a retryable final error (no answer, 503) is unknown. */
  private async record<T>(into: HistoryOp[], op: HistoryOp, call: () => Promise<T>, onOk: (r: T) => void): Promise<HistoryOp> {
    try {
      onOk(await call());
      op.outcome = 'ok';
    } catch (error) {
      const e = error instanceof SeqdApiError ? error : null;
      op.outcome = e && !e.retryable ? 'failed' : 'unknown';
      op.code = e?.code ?? String(error);
    }
    op.end = this.now();
    into.push(op);
    return op;
  }

  /** A keyed next through the SDK (retries across instances). */
  takeNext(into: HistoryOp[], client: number, instance: number, key: string): Promise<HistoryOp> {
    const [site, partition] = SITES[client % SITES.length] ?? SITES[0];
    const op: HistoryOp = { kind: 'next', client, key, start: this.now(), end: 0, outcome: 'unknown' as ClientOutcome, numbers: [] };
    return this.record(into, op, () => this.sdk(instance).next({ siteId: site, partitionId: partition, invoiceType: 'on-cycle', idempotencyKey: key }), (r) => {
      op.numbers = r.numbers;
      op.refilled = r.refilled;
      op.allocation = r.allocation;
      op.replayed = r.replayed;
    });
  }

  /** A next without a key and without retries: a lost answer must leave a visible gap. */
  private async takeUnkeyed(into: HistoryOp[], client: number, instance: number): Promise<HistoryOp> {
    const [site, partition] = SITES[client % SITES.length] ?? SITES[0];
    const op: HistoryOp = { kind: 'next', client, start: this.now(), end: 0, outcome: 'unknown', numbers: [] };
    const proxy = this.instances[instance] ? this.droppers[instance] : undefined;
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
    op.end = this.now();
    into.push(op);
    return op;
  }

  /**
   * Starts the clients (keys prefixed `prefix`): each takes numbers, holds some and confirms or
   * releases them naming their allocation, one request in ten without a key; a failed call moves
   * it to the other instance. `stop` ends them and returns the recorded calls.
   */
  runClients(prefix: string): { stop: () => Promise<HistoryOp[]> } {
    const ops: HistoryOp[] = [];
    let stopped = false;
    const client = async (id: number) => {
      const r = rng(this.o.seed * 100 + id + prefix.length * 7919);
      let instance = id % 2;
      const [site, partition] = SITES[id % SITES.length] ?? SITES[0];
      const held: { n: number; allocation: string }[] = [];
      for (let i = 0; !stopped; i++) {
        const h = held.length > 2 && r() < 0.12 ? held.shift() : undefined;
        if (h) {
          const params = { sequenceNumber: h.n, siteId: site, partitionId: partition, allocation: h.allocation };
          const confirm = r() < 0.5;
          const op: HistoryOp = { client: id, start: this.now(), end: 0, outcome: 'unknown', kind: confirm ? 'confirm' : 'release', numbers: [h.n], allocation: h.allocation };
          const call = (): Promise<{ alreadyReleased?: boolean }> =>
            confirm ? this.sdk(instance).confirm(params).then(() => ({})) : this.sdk(instance).release({ ...params, reason: `faults-${this.o.seed}` });
          await this.record(ops, op, call, (res) => (op.alreadyReleased = res.alreadyReleased));
          continue;
        }
        const op = r() < 0.1 ? await this.takeUnkeyed(ops, id, instance) : await this.takeNext(ops, id, instance, `${prefix}c${id}-${i}`);
        if (op.outcome === 'ok' && !op.replayed && op.allocation) for (const n of op.numbers) held.push({ n, allocation: op.allocation });
        if (op.outcome !== 'ok') {
          instance = 1 - instance;
          await sleep(50);
        }
      }
    };
    const running = Array.from({ length: this.o.clients ?? 16 }, (_, i) => client(i));
    return {
      stop: async () => {
        stopped = true;
        await Promise.all(running);
        return ops;
      },
    };
  }

  /** Sends every key whose outcome no client learned again (which settles it); returns how many. */
  async settle(ops: HistoryOp[]): Promise<number> {
    const learned = new Set(ops.filter((r) => r.kind === 'next' && r.outcome === 'ok').map((r) => r.key));
    const unsettled = ops.filter((r) => r.kind === 'next' && r.outcome !== 'ok' && r.key !== undefined && !learned.has(r.key));
    for (const r of unsettled) {
      const again = await this.takeNext(ops, r.client, r.client % 2, r.key ?? '');
      if (again.outcome !== 'ok' && again.code !== 'REPLAYED_NUMBERS_CHANGED') throw new Error(`seed ${this.o.seed}: re-sent key ${r.key} failed: ${again.code}`);
    }
    return unsettled.length;
  }

  // ---- faults ----

  /** Injects a fault, holds it, heals it, then waits for a healthy cluster with a leader. */
  async fault(kind: string, name: string, inject: (f: Fault) => Promise<void>, heal: () => Promise<void>, holdMs: number): Promise<void> {
    const f: Fault = { name, kind, start: this.now(), end: 0 };
    this.faults.push(f);
    await inject(f);
    await sleep(holdMs);
    await heal();
    f.end = this.now();
    await this.cluster.waitHealthy(20_000);
    await waitLeader(this.cluster);
    await sleep(1500);
  }

  /** Every fault kind, its choices (which member, which instance) drawn from `random`. */
  faultKinds(random: () => number): FaultKind[] {
    const { cluster, network, instances, droppers } = this;
    const names = cluster.members.map((m) => m.name);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
    const heal = async () => network.heal();
    const blackhole = { kind: 'blackhole' } as const;
    const f = this.fault.bind(this);
    const kind = (family: 'process' | 'network', k: string, run: () => Promise<void>): FaultKind => ({ kind: k, family, run });
    return [
      kind('process', 'etcd leader killed', async () => {
        const leader = await waitLeader(cluster);
        await f('etcd leader killed', `kill -9 etcd leader ${leader}`, () => cluster.killMember(leader), () => cluster.restartMember(leader), 3000);
      }),
      kind('process', 'etcd follower killed', async () => {
        const leader = await waitLeader(cluster);
        const follower = pick(names.filter((n) => n !== leader));
        await f('etcd follower killed', `kill -9 etcd follower ${follower}`, () => cluster.killMember(follower), () => cluster.restartMember(follower), 2000);
      }),
      kind('process', 'etcd member paused', async () => {
        const paused = pick(names);
        await f('etcd member paused', `SIGSTOP etcd member ${paused} for 3 s`, async () => void cluster.signal(paused, 'SIGSTOP'), async () => void cluster.signal(paused, 'SIGCONT'), 3000);
      }),
      kind('process', 'no quorum', async () => {
        const leader = await waitLeader(cluster);
        const two = names.filter((n) => n !== leader);
        await f(
          'no quorum',
          `stop two etcd members (${two.join(', ')}): no quorum`,
          async (fault) => {
            await Promise.all(two.map((n) => cluster.killMember(n)));
            fault.closedFrom = this.now();
          },
          async () => void (await Promise.all(two.map((n) => cluster.restartMember(n)))),
          3000,
        );
      }),
      kind('process', 'answers lost', () =>
        f(
          'answers lost',
          'lose 30% of the answers after the commit for 3 s',
          async () => droppers.forEach((d) => (d.dropRate = 0.3)),
          async () => droppers.forEach((d) => (d.dropRate = 0)),
          3000,
        ),
      ),
      // The instance with the smallest node id commits for both: pause it mid-commit.
      kind('process', 'committing seqd paused', () =>
        f(
          'committing seqd paused',
          'SIGSTOP seqd instance 1 (the committing one) for 3 s',
          async () => void instances[0]?.child.kill('SIGSTOP'),
          async () => void instances[0]?.child.kill('SIGCONT'),
          3000,
        ),
      ),
      kind('process', 'seqd killed', async () => {
        const victim = random() < 0.5 ? 0 : 1;
        await f(
          'seqd killed',
          `kill -9 seqd instance ${victim + 1}`,
          async () => {
            const p = instances[victim];
            instances[victim] = null;
            p?.child.kill('SIGKILL');
            await p?.exited;
          },
          () => this.startInstance(victim),
          2000,
        );
      }),
      kind('network', 'minority leader', async () => {
        const leader = await waitLeader(cluster);
        await f('minority leader', `etcd leader ${leader} cut off from both followers (a minority leader) for 3 s`, async () => network.isolate(leader, names.filter((n) => n !== leader)), heal, 3000);
      }),
      kind('network', 'committing seqd cut off from etcd', () =>
        f('committing seqd cut off from etcd', 'seqd instance 1 (the committing one) cut off from every etcd member, not from instance 2, for 3 s', async () => network.isolate('seqd-1', names), heal, 3000),
      ),
      kind('network', 'other seqd cut off from etcd', () => f('other seqd cut off from etcd', 'seqd instance 2 cut off from every etcd member for 3 s', async () => network.isolate('seqd-2', names), heal, 3000)),
      kind('network', 'slow member', async () => {
        const slow = pick(names);
        const others = [...names.filter((n) => n !== slow), 'seqd-1', 'seqd-2'];
        await f('slow member', `etcd member ${slow} behind a 200 ms delay (to and from peers and instances) for 4 s`, async () => network.isolate(slow, others, { kind: 'delay', ms: 200 }), heal, 4000);
      }),
      kind('network', 'one-way link', async () => {
        const leader = await waitLeader(cluster);
        const follower = pick(names.filter((n) => n !== leader));
        await f('one-way link', `one-way cut: etcd leader ${leader} → ${follower} (the other way passes) for 3 s`, async () => network.set(leader, follower, blackhole), heal, 3000);
      }),
      kind('network', 'forwarding cut', () => f('forwarding cut', 'forwarding between the seqd instances cut (both ways) for 3 s', async () => network.set('seqd-1', 'seqd-2', blackhole, true), heal, 3000)),
      kind('network', 'connections reset', () =>
        f('connections reset', 'every seqd → etcd connection reset, and new ones refused, for 2 s', async () => names.forEach((n) => ['seqd-1', 'seqd-2'].forEach((s) => network.set(s, n, { kind: 'reset' }))), heal, 2000),
      ),
      kind('network', 'partition healing under load', async () => {
        const flaps = Array.from({ length: 3 }, () => pick(names));
        await f(
          'partition healing under load',
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
      }),
    ];
  }

  // ---- the check ----

  /** Every series' trail (events after `after[series]` only, when given) and the series list. */
  async readTrail(after: ReadonlyMap<string, number> = new Map()): Promise<{ trail: TrailEvent[]; listed: { name: string; highWaterMark: number }[] }> {
    const base = this.liveUrl;
    const trail: TrailEvent[] = [];
    const listed = ((await (await fetch(`${base}/api/v1/sequence/series`)).json()) as { series: { name: string; highWaterMark: number }[] }).series;
    for (const { name } of listed) {
      let cursor = after.get(name) ?? 0;
      for (;;) {
        const res = await fetch(`${base}/api/v1/audit?series=${encodeURIComponent(name)}&order=asc&limit=1000&cursor=${cursor}`);
        const page = (await res.json()) as { events: TrailEvent[]; nextCursor: number | null };
        trail.push(...page.events);
        if (page.nextCursor === null) break;
        cursor = page.nextCursor;
      }
    }
    return { trail, listed };
  }

  /** The last event of every series now (a round's check starts after it). */
  async trailEnds(): Promise<Map<string, number>> {
    const base = this.liveUrl;
    const listed = ((await (await fetch(`${base}/api/v1/sequence/series`)).json()) as { series: { name: string }[] }).series;
    const ends = new Map<string, number>();
    for (const { name } of listed) {
      const page = (await (await fetch(`${base}/api/v1/audit?series=${encodeURIComponent(name)}&order=desc&limit=1`)).json()) as { events: TrailEvent[] };
      ends.set(name, page.events[0]?.seq ?? 0);
    }
    return ends;
  }

  /**
   * The history against the trail (events after `after` only). Numbers that reached nobody are
   * released as undelivered at once or expire: the sweepers may have a backlog after the faults,
   * so while only such holes are found the trail is read again (at most a minute); nothing else
   * the checker finds goes away by waiting. With a problem, a diagnosis of the first hole.
   */
  async check(ops: readonly HistoryOp[], after: ReadonlyMap<string, number> = new Map()): Promise<{ problems: string[]; trail: TrailEvent[]; listed: { name: string; highWaterMark: number }[]; diagnosis: string }> {
    await sleep((this.o.reservationTimeoutS ?? 4) * 1000);
    let { trail, listed } = await this.readTrail(after);
    let problems = checkHistory(ops, trail, { noHiddenHoles: true });
    const holesOnly = () => problems.length > 0 && problems.every((p) => p.includes('reached no client'));
    for (let waited = 0; waited < 60_000 && holesOnly(); waited += 3000) {
      await sleep(3000);
      ({ trail, listed } = await this.readTrail(after));
      problems = checkHistory(ops, trail, { noHiddenHoles: true });
    }
    const diagnosis = holesOnly() ? `\n${this.sweepLog()}${await this.releaseAnswer(problems[0] ?? '', trail)}` : '';
    return { problems, trail, listed, diagnosis };
  }

  /** What the instances said about expiry: why a number was passed by is in there, if anywhere. */
  private sweepLog(): string {
    return this.instances
      .map((p, i) => `instance ${i + 1}:\n${(p?.output() ?? '').split('\n').filter((l) => /expir|sweep|rollover/i.test(l)).slice(-8).join('\n')}`)
      .join('\n');
  }

  /** What the service answers a release of the number a problem names, as its holder would ask. */
  private async releaseAnswer(problem: string, trail: readonly TrailEvent[]): Promise<string> {
    const m = /^\[(.+)\] number (\d+) \(allocation (\d+)\)/.exec(problem);
    const issued = m && (trail.find((e) => e.seq === Number(m[3]) && (e.series ?? 'global') === m[1]) as (TrailEvent & { siteId?: string; partitionId?: string }) | undefined);
    if (!m || !issued) return '';
    const body = { sequenceNumber: Number(m[2]), siteId: issued.siteId, partitionId: issued.partitionId, allocation: `${m[1]}#${m[3]}`, reason: 'diagnosis' };
    const res = await fetch(`${this.liveUrl}/api/v1/sequence/release`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return `\na release of ${m[2]} now answers ${res.status} ${await res.text()}`;
  }

  /** Per fault: the longest time without a successful call, and the calls sent during it. */
  faultStats(ops: readonly HistoryOp[], faults: readonly Fault[]): { fault: Fault; stallMs: number; calls: number; failed: number; unknown: number }[] {
    const oks = ops.filter((r) => r.outcome === 'ok').map((r) => r.end).sort((a, b) => a - b);
    return faults.map((f, i) => {
      // From the fault until the next one starts (at most 5 s after healing): no double counting.
      const until = Math.min(f.end + 5000, faults[i + 1]?.start ?? Infinity);
      const inWindow = [f.start, ...oks.filter((t) => t >= f.start && t <= until)];
      let stallMs = 0;
      for (let k = 1; k < inWindow.length; k++) stallMs = Math.max(stallMs, (inWindow[k] ?? 0) - (inWindow[k - 1] ?? 0));
      const during = ops.filter((r) => r.start >= f.start && r.start <= until);
      return { fault: f, stallMs, calls: during.length, failed: during.filter((r) => r.outcome === 'failed').length, unknown: during.filter((r) => r.outcome === 'unknown').length };
    });
  }

  /** Requests that succeeded though sent after quorum was lost and answered before it returned. */
  succeededWithoutQuorum(ops: readonly HistoryOp[]): HistoryOp[] {
    return this.faults.flatMap((f) => {
      if (f.closedFrom === undefined) return [];
      const closed = f.closedFrom;
      return ops.filter((r) => r.outcome === 'ok' && r.start > closed && r.end < f.end);
    });
  }
}
