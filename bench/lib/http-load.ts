import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

/** Where one share of the connections goes. */
export interface Target {
  readonly url: string;
  readonly path: string;
}

export interface HttpLoad {
  readonly targets: readonly Target[];
  /** JSON bodies, sent round-robin. */
  readonly bodies: readonly string[];
  /** Total connections, split evenly over the targets. */
  readonly connections: number;
  readonly seconds: number;
}

export interface HttpLoadResult {
  readonly tool: 'wrk' | 'autocannon';
  readonly requests: number;
  readonly requestsPerSec: number;
  /** Averages are request-weighted over targets; p50 and p99 are the worst target's. */
  readonly latencyMs: { avg: number; p50: number; p99: number };
  readonly errors: number;
}

interface Share {
  requests: number;
  seconds: number;
  avgMs: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

/** wrk (native, one thread: leaves the most CPU to the server) when installed, else autocannon. */
export function loadTool(): 'wrk' | 'autocannon' {
  if (process.env.SEQD_BENCH_TOOL === 'autocannon') return 'autocannon';
  return spawnSync('wrk', ['--version']).error ? 'autocannon' : 'wrk';
}

export async function runHttpLoad(load: HttpLoad): Promise<HttpLoadResult> {
  const tool = loadTool();
  const per = Math.max(1, Math.floor(load.connections / load.targets.length));
  const shares = await Promise.all(
    load.targets.map((t) => (tool === 'wrk' ? wrkShare(t, load, per) : autocannonShare(t, load, per))),
  );
  const requests = shares.reduce((a, s) => a + s.requests, 0);
  return {
    tool,
    requests,
    requestsPerSec: shares.reduce((a, s) => a + s.requests / s.seconds, 0),
    latencyMs: {
      avg: requests === 0 ? 0 : shares.reduce((a, s) => a + s.avgMs * s.requests, 0) / requests,
      p50: Math.max(...shares.map((s) => s.p50Ms)),
      p99: Math.max(...shares.map((s) => s.p99Ms)),
    },
    errors: shares.reduce((a, s) => a + s.errors, 0),
  };
}

// wrk prints its own summary; this script adds one JSON line with the figures we need.
const WRK_SCRIPT = `
local bodies = BODIES
local i = 0
if #bodies == 1 then
  wrk.method = "POST"
  wrk.body = bodies[1]
  wrk.headers["Content-Type"] = "application/json"
else
  request = function()
    i = i + 1
    return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, bodies[(i % #bodies) + 1])
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests":%d,"us":%d,"avg":%f,"p50":%d,"p99":%d,"errors":%d}\\n',
    summary.requests, summary.duration, latency.mean, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
`;

async function wrkShare(target: Target, load: HttpLoad, connections: number): Promise<Share> {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-wrk-'));
  try {
    const lua = WRK_SCRIPT.replace('BODIES', `{ ${load.bodies.map((b) => `[==[${b}]==]`).join(', ')} }`);
    writeFileSync(join(dir, 'load.lua'), lua);
    const args = ['-t1', `-c${connections}`, `-d${load.seconds}s`, '--timeout', '10s', '-s', join(dir, 'load.lua'), target.url + target.path];
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.stderr.on('data', (d: Buffer) => (text += d.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited ${code}: ${text}`))));
    });
    const line = /WRK_JSON (\{.*\})/.exec(out)?.[1];
    if (!line) throw new Error(`wrk printed no summary:\n${out}`);
    const r = JSON.parse(line) as { requests: number; us: number; avg: number; p50: number; p99: number; errors: number };
    return { requests: r.requests, seconds: r.us / 1e6, avgMs: r.avg / 1000, p50Ms: r.p50 / 1000, p99Ms: r.p99 / 1000, errors: r.errors };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function autocannonShare(target: Target, load: HttpLoad, connections: number): Promise<Share> {
  let i = 0;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    autocannon(
      {
        url: target.url + target.path,
        connections,
        duration: load.seconds,
        requests: [
          {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            setupRequest: (req) => ({ ...req, body: load.bodies[i++ % load.bodies.length] ?? '{}' }),
          },
        ],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  });
  return {
    requests: result.requests.total,
    seconds: result.duration,
    avgMs: result.latency.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}
