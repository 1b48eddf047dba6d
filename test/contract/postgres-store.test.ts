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
   * A fresh schema per suite: an empty store on a test server of its own, or behind PgBouncer: in
   * transaction mode with two server connections for the store's four, so that each transaction
   * may land on another server connection; in session mode with one for each (a client holds its
   * server connection while it is connected).
   */
  const factory = (pooler?: 'session' | 'transaction') => (): StoreFactory => {
    let pg: TestPostgres | null = null;
    let bouncer: TestPgBouncer | null = null;
    const schema = `contract_${++schemas}`;
    const open = async () => {
      pg ??= await startTestPostgres();
      if (pooler) bouncer ??= await startTestPgBouncer(pg.port, pooler, pooler === 'session' ? 4 : 2);
      const store = new PostgresStore({ url: bouncer?.url ?? pg.url, schema, poolSize: 4, pooler });
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
        await bouncer?.dispose();
        await pg?.dispose();
        bouncer = null;
        pg = null;
      },
    };
  };
  sequenceStoreContract('postgres', factory());
  storeTransferContract('postgres', factory());
  const noPooler = pgbouncerMissing();
  if (noPooler) describe('SequenceStore contract: postgres through PgBouncer', { skip: noPooler }, () => {});
  else {
    // A pooler that loses a statement leaves its client waiting for ever: a time limit makes that a failure.
    const limit = { timeout: 30_000 };
    sequenceStoreContract('postgres through PgBouncer (transaction mode)', factory('transaction'), limit);
    storeTransferContract('postgres through PgBouncer (transaction mode)', factory('transaction'));
    sequenceStoreContract('postgres through PgBouncer (session mode)', factory('session'), limit);
  }
}
