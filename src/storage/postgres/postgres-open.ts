import { readFileSync } from 'node:fs';
import type { SeqdConfig } from '../../config/config-schema.js';
import { ConfigError } from '../../domain/errors/index.js';
import { PostgresStore } from './postgres-store.js';

/**
 * The PostgreSQL store of a configuration, opened (server checked, schema migrated). The password
 * comes from `SEQ_POSTGRES_PASSWORD` or `password-file` (or the server needs none), never from
 * the URL, so it reaches neither the configuration echo nor the logs.
 */
export async function openPostgresStore(pg: SeqdConfig['sequence']['postgres'], requestWindowMs: number, env: NodeJS.ProcessEnv): Promise<PostgresStore> {
  const store = postgresStoreOf(pg, requestWindowMs, env);
  try {
    await store.open();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/** The store of a configuration, not opened yet (no connection, no migration). */
export function postgresStoreOf(pg: SeqdConfig['sequence']['postgres'], requestWindowMs: number, env: NodeJS.ProcessEnv): PostgresStore {
  if (!pg.url) throw new ConfigError('sequence.postgres.url', 'set the PostgreSQL URL (or SEQ_POSTGRES_URL) for sequence.storage: postgres');
  const file = (path: string | undefined, key: string) => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (error) {
      throw new ConfigError(key, `cannot read ${path}: ${(error as Error).message}`);
    }
  };
  const password = env.SEQ_POSTGRES_PASSWORD || file(pg['password-file'], 'sequence.postgres.password-file')?.toString('utf8').trim();
  const tls = pg.tls && {
    ca: file(pg.tls.ca, 'sequence.postgres.tls.ca'),
    cert: file(pg.tls.cert, 'sequence.postgres.tls.cert'),
    key: file(pg.tls.key, 'sequence.postgres.tls.key'),
  };
  return new PostgresStore({
    url: pg.url,
    password,
    schema: pg.schema,
    poolSize: pg['pool-size'],
    statementTimeoutMs: pg['statement-timeout-ms'],
    preparedStatements: pg['prepared-statements'],
    pooler: pg.pooler,
    tls,
    requestWindowMs,
  });
}
