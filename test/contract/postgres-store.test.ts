import { describe } from 'node:test';
import { PostgresStore } from '../../src/storage/postgres/postgres-store.js';
import { postgresMissing, startTestPostgres, type TestPostgres } from '../helpers/postgres-server.js';
import { sequenceStoreContract, type StoreFactory } from './sequence-store.contract.js';
import { storeTransferContract } from './store-transfer.contract.js';

const missing = postgresMissing();
if (missing) {
  describe('SequenceStore contract: postgres', { skip: missing }, () => {});
} else {
  let schemas = 0;
  /** A fresh schema per suite: an empty store on a test server of its own. */
  const factory = (): StoreFactory => {
    let pg: TestPostgres | null = null;
    const schema = `contract_${++schemas}`;
    const open = async () => {
      pg ??= await startTestPostgres();
      const store = new PostgresStore({ url: pg.url, schema, poolSize: 4 });
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
        await pg?.dispose();
        pg = null;
      },
    };
  };
  sequenceStoreContract('postgres', factory);
  storeTransferContract('postgres', factory);
}
