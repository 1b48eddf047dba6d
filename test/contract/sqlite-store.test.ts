import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { sequenceStoreContract, type StoreFactory } from './sequence-store.contract.js';
import { storeTransferContract } from './store-transfer.contract.js';

function factory(): StoreFactory {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-contract-'));
  return {
    open: async () => new SqliteStore({ dataDir: dir }),
    reopen: async (store) => {
      await store.close();
      return new SqliteStore({ dataDir: dir });
    },
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

sequenceStoreContract('sqlite', factory);
storeTransferContract('sqlite', factory);
