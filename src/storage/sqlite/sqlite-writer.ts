import { Worker } from 'node:worker_threads';
import { OutcomeUnknownError, StoreFullError, StoreUnavailableError } from '../../domain/errors/index.js';
import type { CommitPlan } from '../../domain/planner.js';
import type { CommitOutcome } from './sqlite-committer.js';
import type { WriterReply } from './sqlite-writer-thread.js';

// From src/ (run by tsx, in tests) the thread's entry is the .ts file and needs the tsx loader;
// from dist/ it is the .js file.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const ENTRY = new URL(FROM_SOURCE ? './sqlite-writer-thread.ts' : './sqlite-writer-thread.js', import.meta.url);

function startThread(path: string, requestWindowMs: number): Worker {
  const workerData = { path, requestWindowMs };
  if (!FROM_SOURCE) return new Worker(ENTRY, { workerData });
  // A worker does not inherit the tsx loader: register it in the thread, then load the entry.
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(ENTRY.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

/** Main-thread handle of the writer thread: commits go out in order; replies come back per transaction. */
export class SqliteWriter {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(o: CommitOutcome): void; reject(e: Error): void }>();
  private nextId = 1;
  private failed: Error | null = null;

  constructor(path: string, requestWindowMs: number) {
    this.worker = startThread(path, requestWindowMs);
    const fail = (error: Error) => {
      this.failed = new StoreUnavailableError(`embedded store writer stopped: ${error.message}`, { cause: error });
      // Commits sent to a thread that died may have reached COMMIT before it did.
      const unknown = new OutcomeUnknownError(`embedded store writer stopped while committing: ${error.message}`, { cause: error });
      for (const p of this.pending.values()) p.reject(unknown);
      this.pending.clear();
    };
    // A write or fsync the disk refused: the commit may be on disk anyway (SQLite's recovery
    // replays a WAL whose fsync failed after a restart), and the page cache can no longer be
    // trusted. The batch is answered as of unknown outcome and nothing more is written until
    // seqd is restarted: the restart's recovery says what the disk holds.
    const diskFailed = (code: string, message: string) => {
      fail(new Error(`the disk holding ${path} failed while committing (${code}: ${message}); nothing more is written to it: check the disk, then restart seqd`));
      void this.worker.terminate();
    };
    this.worker.on('message', (reply: WriterReply) => {
      if (!reply.ok && reply.code?.startsWith('SQLITE_IOERR')) {
        diskFailed(reply.code, reply.error);
        return;
      }
      reply.ids.forEach((id, i) => {
        const p = this.pending.get(id);
        if (!p) return;
        this.pending.delete(id);
        const outcome = reply.ok ? reply.outcomes[i] : undefined;
        if (outcome) p.resolve(outcome);
        else p.reject(reply.ok ? new StoreUnavailableError('embedded store failed: no outcome') : commitError(path, reply.error, reply.code));
      });
    });
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => {
      if (code !== 0 && !this.failed) fail(new Error(`exit code ${code}`));
    });
  }

  commit(plan: CommitPlan): Promise<CommitOutcome> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // The open gaps are the planner's business and may be many: the writer does not get them.
      this.worker.postMessage({ id, plan: { ...plan, next: { ...plan.next, openGaps: [] } } });
    });
  }

  async close(): Promise<void> {
    this.failed ??= new StoreUnavailableError('embedded store closed');
    await this.worker.terminate();
  }
}

/**
 * The error of a commit the writer rolled back. A full disk has its own code: nothing was kept, and
 * the next commit succeeds by itself once there is space again.
 */
function commitError(path: string, message: string, code: string | undefined): Error {
  if (code === 'SQLITE_FULL') {
    return new StoreFullError(`the disk holding ${path} is full: nothing was written and no number was given; seqd commits again by itself once there is space (${message})`);
  }
  return new StoreUnavailableError(`embedded store failed: ${message}`);
}
