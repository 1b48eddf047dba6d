import { spawn, spawnSync } from 'node:child_process';

/** Full path of a program on PATH (or in one of `extraDirs`), or null when it is not installed. */
export function findProgram(name: string, extraDirs: readonly string[] = []): string | null {
  for (const dir of extraDirs) {
    if (spawnSync(`${dir}/${name}`, ['--version']).status === 0) return `${dir}/${name}`;
  }
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

/** Runs a program to its end; rejects with its output when it fails or outlives `timeoutMs`. */
export function run(cmd: string, args: readonly string[], options: { timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    // A load tool that stops making progress must not hang the whole bench.
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} ${signal ? `killed (${signal}) after ${options.timeoutMs ?? 120_000} ms` : `exited ${code}`}:\n${out.slice(-2000)}`));
    });
  });
}

/** Latency percentiles (ms) of a list of samples (ms). */
export function percentiles(samples: number[]): { avg: number; p50: number; p99: number } {
  if (samples.length === 0) return { avg: 0, p50: 0, p99: 0 };
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0;
  return { avg: samples.reduce((a, b) => a + b, 0) / samples.length, p50: at(0.5), p99: at(0.99) };
}
