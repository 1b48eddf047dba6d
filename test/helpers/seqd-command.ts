import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUILT = join(ROOT, 'dist', 'cli.js');

function newestSourceMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSourceMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

let cached: readonly string[] | undefined;

/**
 * The arguments to `node` that run the seqd CLI: the build in `dist/` when it is newer than every
 * file in `src/` (as right after the test script's build step), otherwise the sources through tsx.
 * The build starts in about half the time, and the tests start seqd some eighty times a pass.
 * `SEQD_TEST_FROM_SOURCE=1` forces the sources.
 */
export function seqdCommand(): readonly string[] {
  if (cached) return cached;
  const fresh = process.env.SEQD_TEST_FROM_SOURCE !== '1' && existsSync(BUILT) && statSync(BUILT).mtimeMs >= newestSourceMtime(join(ROOT, 'src'));
  cached = fresh ? [BUILT] : ['--import', 'tsx', join(ROOT, 'src', 'cli.ts')];
  return cached;
}
