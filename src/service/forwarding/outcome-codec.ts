import {
  HolderMismatchError,
  IdempotencyKeyReusedError,
  InvoiceTypeDisabledError,
  MaintenanceError,
  NumberAlreadyReleasedError,
  NumberConfirmedError,
  NumberNotIssuedError,
  NumberReassignedError,
  OutcomeUnknownError,
  ReplayedNumbersChangedError,
  RequestInOtherSeriesError,
  RequestKeyNotFoundError,
  SeqdError,
  SeriesAmbiguousError,
  SeriesArchivedError,
  SeriesClosedError,
  SeriesNotFoundError,
  SeriesStateMismatchError,
  StoreUnavailableError,
  StoreFullError,
  ValidationError,
  type SeqdErrorOptions,
} from '../../domain/errors/index.js';
import type { Outcome, Refusal } from '../../domain/planner.js';

/** An outcome as it crosses the wire between instances: errors become their code and fields. */
export type WireOutcome =
  | Exclude<Outcome, Refusal>
  | {
      readonly ok: false;
      readonly error: {
        readonly code: string;
        readonly message: string;
        readonly field?: string | undefined;
        readonly allowed?: readonly (string | number)[] | undefined;
        readonly details?: Record<string, unknown> | undefined;
      };
    };

type ErrorClass = new (message: string, options?: SeqdErrorOptions) => SeqdError;
const REFUSALS: readonly ErrorClass[] = [
  ValidationError,
  NumberNotIssuedError,
  NumberAlreadyReleasedError,
  HolderMismatchError,
  InvoiceTypeDisabledError,
  IdempotencyKeyReusedError,
  NumberConfirmedError,
  SeriesClosedError,
  SeriesNotFoundError,
  StoreUnavailableError,
  SeriesAmbiguousError,
  NumberReassignedError,
  ReplayedNumbersChangedError,
  RequestKeyNotFoundError,
  RequestInOtherSeriesError,
  OutcomeUnknownError,
  SeriesStateMismatchError,
  MaintenanceError,
  SeriesArchivedError,
  StoreFullError,
];
const BY_CODE = new Map<string, ErrorClass>(REFUSALS.map((c) => [new c('').code, c]));

export function encodeOutcome(o: Outcome): WireOutcome {
  if (o.ok) return o;
  const e = o.error;
  return { ok: false, error: { code: e.code, message: e.message, field: e.field, allowed: e.allowed, details: e.details } };
}

/** The same typed error the other instance refused with; an unknown code becomes a 503. */
export function decodeOutcome(w: WireOutcome): Outcome {
  if (w.ok) return w;
  const { code, message, field, allowed, details } = w.error;
  const Cls = BY_CODE.get(code) ?? StoreUnavailableError;
  return { ok: false, error: new Cls(message, { field, allowed, details }) };
}
