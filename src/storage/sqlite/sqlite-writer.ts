import type { Worker } from 'node:worker_threads';
import { OutcomeUnknownError, StoreFullError, StoreUnavailableError } from '../../domain/errors/index.js';
import type { CommitPlan } from '../../domain/planner.js';
import type { CommitOutcome } from './sqlite-committer.js';
import { startSqliteThread } from './sqlite-thread.js';
import type { AllowSweep, WriterReply } from './sqlite-writer-thread.js';

/** Main-thread handle of the writer thread: commits go out in order; replies come back per transaction. */
export class SqliteWriter {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(o: CommitOutcome): void; reject(e: Error): void }>();
  private nextId = 1;
  private failed: Error | null = null;

  /** `sweepHeld`: expired idempotency records stay until {@link allowSweep}. */
  constructor(path: string, requestWindowMs: number, sweepHeld = false) {
    this.worker = startSqliteThread('sqlite-writer-thread', { path, requestWindowMs, sweepHeld });
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

  /** From now on every commit is refused with `error` (commits already sent are answered as usual). */
  refuse(error: Error): void {
    this.failed ??= error;
  }

  allowSweep(): void {
    const message: AllowSweep = { allowSweep: true };
    this.worker.postMessage(message);
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
