import type { Sql } from 'postgres';
import { StoreUnavailableError } from '../../domain/errors/index.js';
import { LATEST_SCHEMA, MIGRATIONS, type Migration } from './postgres-schema.js';

export interface MigrationReport {
  /** Schema version found (0: none yet). */
  readonly from: number;
  /** Schema version afterwards (with `dryRun`: what it would be). */
  readonly to: number;
  readonly pending: readonly Migration[];
}

/** A schema name as an SQL identifier (names are checked by the configuration: [a-z_][a-z0-9_]*). */
export const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * Brings the schema up to {@link LATEST_SCHEMA} in one transaction holding an advisory lock, so
 * two instances starting at once never race: the second waits, then finds nothing to do. A
 * database migrated by a newer seqd is refused. `dryRun` only reads and reports.
 */
export async function migrateSchema(sql: Sql, schema: string, options: { dryRun?: boolean } = {}): Promise<MigrationReport> {
  const q = quoteIdent(schema);
  const report = (from: number): MigrationReport => {
    if (from > LATEST_SCHEMA) {
      throw new StoreUnavailableError(`PostgreSQL schema ${schema} is at version ${from}, written by a newer seqd (this one knows ${LATEST_SCHEMA}): upgrade this instance`);
    }
    return { from, to: LATEST_SCHEMA, pending: MIGRATIONS.filter((m) => m.version > from) };
  };
  if (options.dryRun) {
    const [exists] = await sql.unsafe<{ t: string | null }[]>('SELECT to_regclass($1)::text AS t', [`${q}.schema_migrations`]);
    if (!exists?.t) return report(0);
    const [row] = await sql.unsafe<{ v: number | null }[]>(`SELECT max(version)::int AS v FROM ${q}.schema_migrations`);
    return report(row?.v ?? 0);
  }
  return sql.begin(async (tx) => {
    // Waiting for another instance's migration, and the migration itself, may take longer than
    // the statement timeout of ordinary statements.
    await tx.unsafe('SET LOCAL statement_timeout = 0');
    // Behind a pooler the connection may not have seqd's settings: the migration waits for its WAL.
    await tx.unsafe('SET LOCAL synchronous_commit = on');
    await tx.unsafe('SELECT pg_advisory_xact_lock(hashtext($1))', [`seqd-migrate:${schema}`]);
    await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS ${q}`);
    await tx.unsafe(`CREATE TABLE IF NOT EXISTS ${q}.schema_migrations (version int PRIMARY KEY, description text NOT NULL, applied_at bigint NOT NULL)`);
    const [row] = await tx.unsafe<{ v: number | null }[]>(`SELECT max(version)::int AS v FROM ${q}.schema_migrations`);
    const r = report(row?.v ?? 0);
    for (const m of r.pending) {
      await tx.unsafe(m.sql.replaceAll('%s', q));
      await tx.unsafe(`INSERT INTO ${q}.schema_migrations (version, description, applied_at) VALUES ($1, $2, $3)`, [m.version, m.description, Date.now()]);
    }
    return r;
  });
}
