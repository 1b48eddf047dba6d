/**
 * Sustained load on a running HA POC (./START-HA-POC.sh): both instances run their in-server
 * load-test demo back to back for N minutes while the etcd database size is sampled.
 *
 *   npx tsx bench/ha-soak.ts [--minutes 10] [--threads 128] [--urls http://127.0.0.1:8080,http://127.0.0.1:8081]
 */
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    threads: { type: 'string', default: '128' },
    urls: { type: 'string', default: 'http://127.0.0.1:8080,http://127.0.0.1:8081' },
  },
});
const minutes = Number(values.minutes);
const urls = values.urls.split(',');
const endAt = Date.now() + minutes * 60_000;

interface Stats {
  highWaterMark: number;
  cluster: { members: { name?: string; dbSizeBytes?: number; reachable: boolean }[] } | null;
}
const stats = async (): Promise<Stats> => (await (await fetch(`${urls[0]}/api/v1/sequence/stats`)).json()) as Stats;
const mb = (b: number | undefined) => (b === undefined ? '-' : `${(b / 1048576).toFixed(1)} MB`);

let failures = 0;
const drive = async (url: string) => {
  while (Date.now() < endAt) {
    const res = await fetch(`${url}/api/v1/demo/load-test?totalRequests=20000&concurrentThreads=${values.threads}`, { method: 'POST' });
    const body = (await res.json()) as { summary?: { failed: number } };
    failures += body.summary?.failed ?? 1;
  }
};

const t0 = Date.now();
const first = await stats();
let maxDb = 0;
const sample = async () => {
  const s = await stats();
  const sizes = (s.cluster?.members ?? []).map((m) => m.dbSizeBytes ?? 0);
  maxDb = Math.max(maxDb, ...sizes);
  const secs = (Date.now() - t0) / 1000;
  console.log(
    `${secs.toFixed(0).padStart(4)} s  numbers ${s.highWaterMark - first.highWaterMark}  ` +
      `rate ${Math.round((s.highWaterMark - first.highWaterMark) / secs)}/s  etcd db ${(s.cluster?.members ?? []).map((m) => `${m.name}=${mb(m.dbSizeBytes)}`).join(' ')}`,
  );
  return s;
};
const timer = setInterval(() => void sample(), 30_000);
await Promise.all(urls.map(drive));
clearInterval(timer);
const last = await sample();
console.log(
  JSON.stringify({ minutes, numbers: last.highWaterMark - first.highWaterMark, failedRequests: failures, maxEtcdDbBytes: maxDb }),
);
