import type { FastifyInstance } from 'fastify';
import { DEFAULT_SERIES, type SequenceService } from '../../service/sequence-service.js';
import type { AuditInput, buildSchemas } from '../schemas.js';
import { parseTime } from '../parse-time.js';

type Schemas = ReturnType<typeof buildSchemas>;

export function auditRoutes(app: FastifyInstance, service: SequenceService, schemas: Schemas): void {
  app.get<{ Querystring: AuditInput }>('/api/v1/audit', { schema: { querystring: schemas.auditQuery } }, async (req) => {
    const q = req.query;
    const from = parseTime(q.from, 'from');
    const to = parseTime(q.to, 'to');
    const series = DEFAULT_SERIES;
    const events = await service.audit({
      series,
      number: q.number,
      siteId: q.siteId,
      partitionId: q.partitionId,
      invoiceType: q.invoiceType,
      type: q.event,
      from,
      to,
      cursor: q.cursor,
      order: q.order,
      limit: q.limit,
    });
    const last = events[events.length - 1];
    return {
      series,
      events: events.map(({ ts, type, ...e }) => ({ ...e, event: type, timestamp: new Date(ts).toISOString() })),
      count: events.length,
      order: q.order,
      limit: q.limit,
      nextCursor: events.length === q.limit && last ? last.seq : null,
    };
  });

  app.get('/api/v1/audit/verify', () => service.verify(DEFAULT_SERIES));
}
