import { SeqdError } from './seqd-error.js';

/**
 * The series was archived and removed from this store (410): its events and number records are in
 * the archive file named in `details`, checked offline with `seqd archive verify`. Nothing in it
 * can be issued, released or confirmed any more.
 */
export class SeriesArchivedError extends SeqdError {
  override readonly name = 'SeriesArchivedError';
  readonly code = 'SERIES_ARCHIVED';
  readonly httpStatus = 410;
}
