/** `seqd/client`: a typed client of the seqd API with safe retries and failover between instances. */
export { SeqdApiError } from './seqd-api-error.js';
export {
  SeqdClient,
  type AuditEvent,
  type AuditResult,
  type ChainHead,
  type ConfirmResult,
  type GapStatus,
  type SeriesSelection,
  type SeriesStatus,
  type NextParams,
  type NextResult,
  type NumberParams,
  type ReleaseResult,
  type SeqdClientOptions,
  type VerifyResult,
} from './seqd-client.js';
