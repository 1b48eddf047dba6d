import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { StoreUnavailableError } from '../../domain/errors/index.js';

/** Lock files this process holds: a lock naming our own pid but not held here is stale (a restarted container is pid 1 again). */
const held = new Set<string>();

/**
 * Takes the data directory's lock file, so that a second seqd (or `seqd change-numbering`) never
 * runs on the same SQLite file as a running one: the embedded store has one writer. A lock whose
 * process is gone (a crash) is taken over. Answers the release function.
 */
export function lockDataDir(path: string): () => void {
  const mine = JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, mine, { flag: 'wx' });
      held.add(path);
      return () => {
        held.delete(path);
        try {
          unlinkSync(path);
        } catch {
          // already gone: nothing to release
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = readOwner(path);
      if (owner && owner.host === hostname() && isAlive(owner.pid) && (owner.pid !== process.pid || held.has(path))) {
        throw new StoreUnavailableError(
          `another seqd (pid ${owner.pid}, since ${owner.since}) uses this data directory (${path}): stop it first, or give this one its own --data-dir`,
        );
      }
      // Left by a process that is gone (or unreadable): taken over.
      try {
        unlinkSync(path);
      } catch {
        // removed by someone else in between: try again
      }
    }
  }
  throw new StoreUnavailableError(`could not take the lock ${path}`);
}

function readOwner(path: string): { pid: number; host: string; since: string } | null {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown; host?: unknown; since?: unknown };
    return typeof o.pid === 'number' && typeof o.host === 'string' ? { pid: o.pid, host: o.host, since: String(o.since) } : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
