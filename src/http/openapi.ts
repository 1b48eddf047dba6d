import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

/** Sections of the API document. */
export const TAGS = {
  sequence: 'sequence',
  series: 'series',
  audit: 'audit',
  ops: 'operations',
  demo: 'demos',
  settings: 'settings',
  admin: 'admin',
} as const;
type Tag = (typeof TAGS)[keyof typeof TAGS];

/** The error body every 4xx and 5xx answer carries. */
export const ERROR_BODY = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      additionalProperties: true,
      properties: {
        code: { type: 'string', description: 'stable machine code, e.g. VALIDATION_ERROR, NUMBER_CONFIRMED' },
        message: { type: 'string' },
        field: { type: 'string', description: 'the request field at fault' },
        allowed: { type: 'array', items: { type: ['string', 'number'] }, description: 'the values that field accepts' },
      },
    },
  },
} as const;

/**
 * Documentation of a route (summary, section, description) to spread into its `schema`. Routes
 * that are not part of the API (dashboard assets, the internal forward route) use {@link hidden}.
 */
export function doc(tag: Tag, summary: string, description?: string) {
  return { tags: [tag], summary, ...(description ? { description } : {}) } as const;
}

/** Leaves a route out of the API document, saying why (checked by the OpenAPI test). */
export function hidden(reason: string) {
  return { hide: true, 'x-hidden-because': reason } as const;
}

/** OpenAPI 3.1 built from the route schemas, at `/docs/json`; Swagger UI (served locally) at `/docs`. */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'seqd',
        version,
        description:
          'Strictly sequential invoice numbers with gap management, a hash-chained audit trail and high availability. ' +
          'Every error answers `{"error": {"code", "message", "field"?, "allowed"?}}`; a refused request changes nothing.',
      },
      tags: [
        { name: TAGS.sequence, description: 'taking, releasing and confirming numbers' },
        { name: TAGS.series, description: 'series, gap reports and statistics' },
        { name: TAGS.audit, description: 'the audit trail, its verification and exports' },
        { name: TAGS.settings, description: 'audited runtime toggles' },
        { name: TAGS.ops, description: 'health, readiness and metrics' },
        { name: TAGS.admin, description: 'backups (role admin)' },
        { name: TAGS.demo, description: 'step-by-step demos with a verification section' },
      ],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true } });
}
