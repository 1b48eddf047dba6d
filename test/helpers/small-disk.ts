import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A real, small filesystem (tmpfs) that fills up: the disk-full tests' disk. */
export interface SmallDisk {
  readonly dir: string;
  /** Bytes still free on it. */
  free(): number;
  /** Takes all but `leaveBytes` of the free space with a filler file (deleted by `unfill`). */
  fill(leaveBytes: number): void;
  unfill(): void;
  dispose(): void;
}

/**
 * Mounts a tmpfs of `sizeBytes` (needs root, as the test command's apt steps do), or answers why
 * it cannot; in CI that is a failure.
 */
export function mountSmallDisk(sizeBytes: number): SmallDisk | string {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    const reason = `cannot mount a small tmpfs (root needed): ${String(error).split('\n')[0]}`;
    if (process.env.CI === 'true') throw new Error(`CI needs a small filesystem: ${reason}`);
    return reason;
  }
  const filler = join(dir, 'filler');
  const free = () => {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  };
  return {
    dir,
    free,
    fill: (leaveBytes) => writeFileSync(filler, Buffer.alloc(Math.max(0, free() - leaveBytes))),
    unfill: () => rmSync(filler, { force: true }),
    dispose: () => {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
