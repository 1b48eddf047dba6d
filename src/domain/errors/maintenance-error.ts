import { SeqdError } from './seqd-error.js';

/**
 * The store is in maintenance (a migration or a restore drill is running, or an operator switched
 * it on): it commits nothing until maintenance is switched off. Nothing of the request was done;
 * retry once maintenance ends (or send it to the store the numbering moved to).
 */
export class MaintenanceError extends SeqdError {
  override readonly name = 'MaintenanceError';
  readonly code = 'MAINTENANCE';
  readonly httpStatus = 503;
  override readonly retryable = true;
}
