import type { FastifyError, FastifyInstance } from 'fastify';
import {
  NotFoundError,
  PayloadTooLargeError,
  SeqdError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../domain/errors/index.js';
import { allowedMethods, MethodNotAllowedError } from './method-not-allowed.js';
import { toValidationError } from './validation.js';

/** Fastify's own 4xx errors, mapped onto seqd's typed errors. */
function fromFastify(error: FastifyError): SeqdError | null {
  if (error.validation) return toValidationError(error.validation, error.validationContext ?? 'request');
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayloadTooLargeError(error.message);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new UnsupportedMediaTypeError('send the body as JSON with "Content-Type: application/json"', {
        allowed: ['application/json'],
      });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ValidationError(`the body is not valid JSON: ${error.message}`);
  }
  if (error instanceof SyntaxError) return new ValidationError(`the body is not valid JSON: ${error.message}`);
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new ValidationError(error.message);
  }
  return null;
}

/** One error shape for every route: `{"error": {"code", "message", "field"?, "allowed"?}}`. */
export function installErrorHandling(app: FastifyInstance, onError?: (code: string, status: number) => void): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const known = error instanceof SeqdError ? error : fromFastify(error);
    if (known) {
      if (known.httpStatus >= 500) request.log.warn({ err: error }, 'request failed: %s', known.message);
      onError?.(known.code, known.httpStatus);
      return reply.code(known.httpStatus).send({ error: known.toBody() });
    }
    request.log.error({ err: error }, 'unexpected error');
    onError?.('INTERNAL', 500);
    return reply.code(500).send({ error: { code: 'INTERNAL', message: 'internal error; see the server log' } });
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    // A path served with other methods: 405 with `Allow` (RFC 9110), not "no such route".
    const allowed = allowedMethods(app, request.url);
    if (allowed.length > 0) reply.header('allow', allowed.join(', '));
    const e =
      allowed.length > 0
        ? new MethodNotAllowedError(`${request.method} is not allowed on ${path}: use ${allowed.join(', ')}`, { allowed })
        : new NotFoundError(`no route ${request.method} ${path}`);
    onError?.(e.code, e.httpStatus);
    return reply.code(e.httpStatus).send({ error: e.toBody() });
  });
}
