import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seqdCommand } from './seqd-command.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface SeqdProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** Everything the process printed so far. */
  output(): string;
  /** Resolves with the exit code or signal once the process has ended. */
  readonly exited: Promise<number | NodeJS.Signals | null>;
}

/**
 * Starts `seqd serve` as a child process (the real CLI, run from source) on a free port and waits
 * until it listens.
 */
export async function spawnSeqd(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<SeqdProcess> {
  const child = spawn(process.execPath, [...seqdCommand(), 'serve', '--port', '0', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code)),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`seqd did not start within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const check = () => {
      const m = /seqd listening on (https?:\/\/[^\s"]+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        // Not looked at again: a long-lived instance's output only grows.
        child.stdout?.off('data', check);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`seqd exited (${String(code)}) before listening:\n${out}`));
    });
  });
  return { child, url, output: () => out, exited };
}
