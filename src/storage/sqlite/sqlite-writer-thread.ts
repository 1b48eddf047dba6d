import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { CommitPlan } from '../../domain/planner.js';
import { configure, SqliteCommitter, type CommitOutcome } from './sqlite-committer.js';
import { nextTransaction } from './sqlite-writer-queue.js';

/** Messages between the store (main thread) and its writer thread. */
export interface WriterRequest {
  readonly id: number;
  readonly plan: CommitPlan;
}
/** Sent once the whole file passed its check: deleting expired records may free pages from now on. */
export interface AllowSweep {
  readonly allowSweep: true;
}
/** One reply message answers every request committed by one transaction, in request order. */
export type WriterReply =
  | { readonly ids: readonly number[]; readonly ok: true; readonly outcomes: readonly CommitOutcome[] }
  | { readonly ids: readonly number[]; readonly ok: false; readonly error: string; readonly code?: string | undefined };

// Entry of the writer thread: owns the only write connection and commits until nothing waits.
if (parentPort) {
  const port: MessagePort = parentPort;
  const data = workerData as { path: string; requestWindowMs: number; sweepHeld: boolean };
  const committer = new SqliteCommitter(configure(new Database(data.path)), data.requestWindowMs, data.sweepHeld);
  const backlog: WriterRequest[] = [];
  const take = (message: WriterRequest | AllowSweep) => {
    if ('allowSweep' in message) committer.allowSweep();
    else backlog.push(message);
  };
  const drainPort = () => {
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) take(m.message as WriterRequest | AllowSweep);
  };
  port.on('message', (first: WriterRequest | AllowSweep) => {
    take(first);
    drainPort();
    while (backlog.length > 0) {
      const requests = nextTransaction(backlog);
      const ids = requests.map((r) => r.id);
      let reply: WriterReply;
      try {
        reply = { ids, ok: true, outcomes: committer.commitAll(requests.map((r) => r.plan)) };
      } catch (error) {
        // SQLite's error code (SQLITE_FULL, ...): the store names the failure by it.
        const code = (error as { code?: unknown }).code;
        reply = { ids, ok: false, error: String(error), code: typeof code === 'string' ? code : undefined };
      }
      port.postMessage(reply);
      drainPort();
    }
  });
}
