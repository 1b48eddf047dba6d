import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'failsync.c');

/** Environment that makes a child's fsync fail while `flag` exists, or why it cannot be built. */
export interface FsyncFailure {
  readonly env: Record<string, string>;
  readonly flag: string;
}

/**
 * Compiles the LD_PRELOAD shim (test/helpers/failsync.c) with the machine's C compiler (the one
 * the SQLite driver is built with); in CI a missing compiler is a failure.
 */
export function fsyncFailure(): FsyncFailure | string {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-failsync-'));
  const lib = join(dir, 'failsync.so');
  try {
    execFileSync('cc', ['-shared', '-fPIC', '-O2', '-o', lib, SOURCE, '-ldl'], { stdio: 'pipe' });
  } catch (error) {
    const reason = `cannot build the fsync shim (a C compiler, cc, is needed): ${String(error).split('\n')[0]}`;
    if (process.env.CI === 'true') throw new Error(`CI needs a C compiler: ${reason}`);
    return reason;
  }
  const flag = join(dir, 'fail-now');
  return { flag, env: { LD_PRELOAD: lib, SEQD_FAIL_FSYNC_WHILE: flag } };
}
