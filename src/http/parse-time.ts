import { ValidationError } from '../domain/errors/index.js';

/** An ISO 8601 query parameter as epoch ms; a value that is not one is a 400 naming the field. */
export function parseTime(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new ValidationError(`${field} must be an ISO 8601 time such as 2026-01-31T12:00:00Z`, { field });
  return ms;
}
