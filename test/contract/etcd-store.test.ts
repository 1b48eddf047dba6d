import { describe } from 'node:test';
import { EtcdStore } from '../../src/storage/etcd/etcd-store.js';
import { etcdMissing, startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { sequenceStoreContract, type StoreFactory } from './sequence-store.contract.js';
import { storeTransferContract } from './store-transfer.contract.js';

const missing = etcdMissing();
if (missing) {
  describe('SequenceStore contract: etcd', { skip: missing }, () => {});
} else {
  /** A fresh 3-member cluster per suite: an empty store. */
  const factory = (pipelineDepth = 1): StoreFactory => {
    let tc: TestCluster | null = null;
    const open = async () => {
      tc ??= await startTestCluster();
      return new EtcdStore({ endpoints: tc.cluster.endpoints, requestTimeoutMs: 1000, pipelineDepth });
    };
    return {
      open,
      reopen: async (store) => {
        await store.close();
        return open();
      },
      cleanup: async () => {
        await tc?.dispose();
        tc = null;
      },
    };
  };
  sequenceStoreContract('etcd (3 members)', () => factory());
  // The same contract with the next batch sent while one commits (sequence.etcd.pipeline-depth: 2).
  sequenceStoreContract('etcd (3 members), pipelined', () => factory(2));
  storeTransferContract('etcd (3 members)', () => factory());
}
