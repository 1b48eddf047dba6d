import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { CommitPlan } from '../../domain/planner.js';
import { configure, SqliteCommitter } from './sqlite-committer.js';

/** Messages between the store (main thread) and its writer thread. */
export interface WriterRequest {
  readonly id: number;
  readonly plan: CommitPlan;
}
export type WriterReply =
  | { readonly id: number; readonly ok: true; readonly outcome: ReturnType<SqliteCommitter['commit']> }
  | { readonly id: number; readonly ok: false; readonly error: string };

// Entry of the writer thread: owns the only write connection and commits one plan at a time.
if (parentPort) {
  const port = parentPort;
  const committer = new SqliteCommitter(configure(new Database((workerData as { path: string }).path)));
  port.on('message', (req: WriterRequest) => {
    let reply: WriterReply;
    try {
      reply = { id: req.id, ok: true, outcome: committer.commit(req.plan) };
    } catch (error) {
      reply = { id: req.id, ok: false, error: String(error) };
    }
    port.postMessage(reply);
  });
}
