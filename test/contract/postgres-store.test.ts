import { describe } from 'node:test';
import { PostgresStore } from '../../src/storage/postgres/postgres-store.js';
import { postgresMissing, startTestPostgres, type TestPostgres } from '../helpers/postgres-server.js';
import { sequenceStoreContract } from './sequence-store.contract.js';

const missing = postgresMissing();
if (missing) {
  describe('SequenceStore contract: postgres', { skip: missing }, () => {});
} else {
  let pg: TestPostgres | null = null;
  let schemas = 0;
  sequenceStoreContract('postgres', () => {
    // A fresh schema per factory: an empty store on the one test server.
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
  });
}
