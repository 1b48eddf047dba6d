import { SeqdError } from './seqd-error.js';

/** The invoice type is switched off (the `simulated` toggle) (409). Nothing was changed. */
export class InvoiceTypeDisabledError extends SeqdError {
  override readonly name = 'InvoiceTypeDisabledError';
  readonly code = 'INVOICE_TYPE_DISABLED';
  readonly httpStatus = 409;
}
