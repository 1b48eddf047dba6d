import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';
import { ValidationError } from '../domain/errors/index.js';

/**
 * Bodies are validated strictly (a string where a number belongs is an error), query strings
 * with coercion (every query value arrives as a string). Both report only the first problem,
 * which the error handler turns into one field and its allowed values.
 */
const bodyAjv = new Ajv({ coerceTypes: false, useDefaults: true, allErrors: false, strict: false, verbose: true });
// `date-time` is declared for the API document; parseTime checks it, with a message naming the field.
const queryAjv = new Ajv({ coerceTypes: true, useDefaults: true, allErrors: false, strict: false, verbose: true, formats: { 'date-time': true } });

export const validatorCompiler: FastifySchemaCompiler<FastifySchema> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? bodyAjv : queryAjv;
  return ajv.compile(schema as object) as ValidateFunction;
};

interface SchemaNode {
  type?: string;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  properties?: Record<string, SchemaNode>;
}

/** Turns the first ajv error of a request part into a {@link ValidationError}. */
export function toValidationError(errors: readonly ErrorObject[], part: string): ValidationError {
  const e = errors[0];
  if (!e) return new ValidationError(`invalid ${part}`);
  const where = part === 'body' ? 'body' : part === 'querystring' ? 'query' : part;
  const path = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const params = e.params as Record<string, unknown>;
  const parent = e.parentSchema as SchemaNode | undefined;
  switch (e.keyword) {
    case 'required': {
      const field = joinPath(path, String(params.missingProperty));
      return new ValidationError(`${field} is required`, { field });
    }
    case 'additionalProperties': {
      const field = joinPath(path, String(params.additionalProperty));
      const known = Object.keys(parent?.properties ?? {});
      return new ValidationError(`unknown field "${field}" in the ${where}`, { field, allowed: known });
    }
    case 'enum': {
      const allowed = (params.allowedValues as (string | number)[] | undefined) ?? [];
      return new ValidationError(`${path} must be one of: ${allowed.join(', ')}`, { field: path, allowed });
    }
    case 'type':
      if (path === '') return new ValidationError(`the ${where} must be a JSON ${String(params.type)}`);
      return new ValidationError(`${path} must be ${article(String(params.type))}`, { field: path });
    case 'minimum':
    case 'maximum':
      return new ValidationError(`${path} must be ${rangeText(parent)}`, {
        field: path,
        details: bounds(parent),
      });
    case 'minLength':
    case 'maxLength':
      return new ValidationError(
        `${path} must be ${parent?.minLength ?? 0} to ${parent?.maxLength ?? 'any number of'} characters long`,
        { field: path },
      );
    default:
      return new ValidationError(`${path || where} ${e.message ?? 'is invalid'}`, path ? { field: path } : {});
  }
}

function joinPath(path: string, leaf: string): string {
  return path ? `${path}.${leaf}` : leaf;
}

function article(type: string): string {
  if (type === 'integer') return 'an integer';
  if (type === 'array' || type === 'object') return `an ${type}`;
  return `a ${type}`;
}

function rangeText(s: SchemaNode | undefined): string {
  const kind = s?.type === 'integer' ? 'an integer' : 'a number';
  if (s?.minimum !== undefined && s.maximum !== undefined) return `${kind} from ${s.minimum} to ${s.maximum}`;
  if (s?.minimum !== undefined) return `${kind} of at least ${s.minimum}`;
  if (s?.maximum !== undefined) return `${kind} of at most ${s.maximum}`;
  return kind;
}

function bounds(s: SchemaNode | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (s?.minimum !== undefined) out.min = s.minimum;
  if (s?.maximum !== undefined) out.max = s.maximum;
  return out;
}
