import type { Sql, TransactionSql } from 'postgres';

/**
 * How seqd reaches PostgreSQL: directly (`none`), or through a connection pooler such as
 * PgBouncer in `session` or `transaction` mode. A pooler refuses the settings a client sends when
 * it connects (PgBouncer: "unsupported startup parameter"), or drops them when told to ignore
 * them; in transaction mode it also gives each transaction whichever server connection is free,
 * so nothing set on a connection outlives a transaction.
 */
export type PoolerMode = 'none' | 'session' | 'transaction';

/** What every write of seqd needs from the server: a commit answers once its WAL is flushed (and on the synchronous standbys). */
export const SYNCHRONOUS_COMMIT = 'on';

/** Values of `synchronous_commit` that wait at least as long as `on` does. */
const DURABLE_ENOUGH: ReadonlySet<string> = new Set(['on', 'remote_apply']);

/**
 * Settings sent when a connection opens. Behind a pooler only `application_name`, which
 * PgBouncer passes on; the others are then set inside each transaction ({@link localSettings}).
 */
export function connectionSettings(pooler: PoolerMode, statementTimeoutMs: number): Record<string, string | number> {
  if (pooler !== 'none') return { application_name: 'seqd' };
  return { application_name: 'seqd', synchronous_commit: SYNCHRONOUS_COMMIT, statement_timeout: statementTimeoutMs };
}

/**
 * The connection settings for one transaction (`set_config(…, true)` is `SET LOCAL`), not sent
 * yet: the caller sends it ahead of the transaction's statements. Empty without a pooler: the
 * connection has them already.
 */
export function localSettings<T extends Record<string, unknown>>(tx: Pick<Sql<T>, 'unsafe'>, pooler: PoolerMode, statementTimeoutMs: number) {
  if (pooler === 'none') return [];
  return [tx.unsafe("SELECT set_config('synchronous_commit', $1, true), set_config('statement_timeout', $2, true)", [SYNCHRONOUS_COMMIT, String(statementTimeoutMs)])];
}

/**
 * Runs `work` in `tx` after its transaction settings, which are sent before any statement of
 * `work`. Rejects with their error when they fail (the statements of `work` then fail only
 * because the transaction is aborted, so nothing commits).
 */
export async function withLocalSettings<T extends Record<string, unknown>, R>(
  tx: TransactionSql<T>,
  pooler: PoolerMode,
  statementTimeoutMs: number,
  work: (tx: TransactionSql<T>) => Promise<R>,
): Promise<R> {
  const settings = localSettings(tx, pooler, statementTimeoutMs).map((q) => q.execute());
  const [, result] = await Promise.all([Promise.all(settings), work(tx)]);
  return result;
}

/**
 * Why a connection's `synchronous_commit` is not enough for seqd, or null. Without a pooler seqd
 * sent `on` when it connected: anything else means a pooler dropped it or the URL set another
 * value. Behind a pooler it is the server's own, which the few writes outside seqd's transactions
 * (the migrations set theirs) run with.
 */
export function synchronousCommitProblem(value: string | undefined, pooler: PoolerMode): string | null {
  if (value !== undefined && DURABLE_ENOUGH.has(value)) return null;
  const shown = `synchronous_commit = ${value ?? '(unknown)'}`;
  if (pooler === 'none') {
    return `PostgreSQL runs seqd's connections with ${shown}, not the on seqd asks for when it connects: a pooler that drops connection settings (set sequence.postgres.pooler), or a synchronous_commit in the URL; a commit could answer before its WAL is flushed (or before the synchronous standby has it)`;
  }
  return `PostgreSQL runs with ${shown}: behind a pooler seqd cannot set it for each connection, and a commit could answer before its WAL is flushed (or before the synchronous standby has it); set synchronous_commit = on on the server`;
}
