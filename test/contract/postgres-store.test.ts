import { describe } from 'node:test';
import { PostgresStore } from '../../src/storage/postgres/postgres-store.js';
import { pgbouncerMissing, startTestPgBouncer, type TestPgBouncer } from '../helpers/pgbouncer.js';
import { postgresMissing, startTestPostgres, type TestPostgres } from '../helpers/postgres-server.js';
import { sequenceStoreContract, type StoreFactory } from './sequence-store.contract.js';
import { storeTransferContract } from './store-transfer.contract.js';

const missing = postgresMissing();
if (missing) {
  describe('SequenceStore contract: postgres', { skip: missing }, () => {});
} else {
  let schemas = 0;
  /**
   * A fresh schema per suite: an empty store on a test server of its own; `pooled`: behind
   * PgBouncer in transaction mode with two server connections for the store's four, so that each
   * transaction may land on another server connection.
   */
  const factory = (pooled = false) => (): StoreFactory => {
    let pg: TestPostgres | null = null;
    let pooler: TestPgBouncer | null = null;
    const schema = `contract_${++schemas}`;
    const open = async () => {
      pg ??= await startTestPostgres();
      if (pooled) pooler ??= await startTestPgBouncer(pg.port, 'transaction');
      const store = new PostgresStore({ url: pooler?.url ?? pg.url, schema, poolSize: 4, ...(pooled ? { pooler: 'transaction' as const } : {}) });
      await store.open();
      return store;
    };
    return {
      open,
      reopen: async (store) => {
        await store.close();
        return open();
      },
      cleanup: async () => {
        await pooler?.dispose();
        await pg?.dispose();
        pooler = null;
        pg = null;
      },
    };
  };
  sequenceStoreContract('postgres', factory());
  storeTransferContract('postgres', factory());
  const noPooler = pgbouncerMissing();
  if (noPooler) describe('SequenceStore contract: postgres through PgBouncer', { skip: noPooler }, () => {});
  else {
    sequenceStoreContract('postgres through PgBouncer (transaction mode)', factory(true));
    storeTransferContract('postgres through PgBouncer (transaction mode)', factory(true));
  }
}
