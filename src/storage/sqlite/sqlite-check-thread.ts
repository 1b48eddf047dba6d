import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { integrityPragma, problemsOf, type CheckReply } from './sqlite-integrity.js';

// Entry of the check thread: reads the whole file once on its own read-only connection, so the
// requests served meanwhile never wait for it.
if (parentPort) {
  const { path } = workerData as { path: string };
  const started = Date.now();
  let reply: CheckReply;
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      reply = { ok: true, problems: problemsOf(db, integrityPragma()), ms: Date.now() - started };
    } finally {
      db.close();
    }
  } catch (error) {
    reply = { ok: false, error: String(error) };
  }
  parentPort.postMessage(reply);
}
