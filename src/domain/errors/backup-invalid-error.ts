import { SeqdError } from './seqd-error.js';

/** A backup or archive file that is damaged, truncated, edited or of an unknown format: nothing is restored from it. */
export class BackupInvalidError extends SeqdError {
  override readonly name = 'BackupInvalidError';
  readonly code = 'BACKUP_INVALID';
  readonly httpStatus = 422;
}
