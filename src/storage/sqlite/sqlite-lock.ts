import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { StoreUnavailableError } from '../../domain/errors/index.js';
import { isProcessAlive } from '../../os/process-alive.js';

/**
 * Lock files this process holds, with how many stores hold each: a lock naming our own pid but
 * not held here is stale (a restarted container is pid 1 again).
 */
const held = new Map<string, number>();

/**
 * Takes the data directory's lock file, so that a second seqd process (or `seqd change-numbering`)
 * never runs on the SQLite file of a running one: the embedded store is one process. Within one
 * process several stores may share the file (tests run two instances that way; every commit still
 * compares the series version). A lock whose process is gone (a crash) is taken over. Answers
 * the release function.
 */
export function lockDataDir(path: string): () => void {
  const count = held.get(path);
  if (count !== undefined) {
    held.set(path, count + 1);
    return once(() => release(path));
  }
  const mine = JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, mine, { flag: 'wx' });
      held.set(path, 1);
      return once(() => release(path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = readOwner(path);
      if (owner && owner.host === hostname() && isProcessAlive(owner.pid) && owner.pid !== process.pid) {
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

function release(path: string): void {
  const count = held.get(path) ?? 0;
  if (count > 1) {
    held.set(path, count - 1);
    return;
  }
  held.delete(path);
  try {
    unlinkSync(path);
  } catch {
    // already gone: nothing to release
  }
}

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (!done) f();
    done = true;
  };
}

function readOwner(path: string): { pid: number; host: string; since: string } | null {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown; host?: unknown; since?: unknown };
    return typeof o.pid === 'number' && typeof o.host === 'string' ? { pid: o.pid, host: o.host, since: String(o.since) } : null;
  } catch {
    return null;
  }
}

