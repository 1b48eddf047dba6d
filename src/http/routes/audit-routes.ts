import type { FastifyInstance } from 'fastify';
import type { SequenceService } from '../../service/sequence-service.js';
import { doc, TAGS } from '../openapi.js';
import type { AuditInput, buildSchemas, VerifyInput } from '../schemas.js';
import { parseTime } from '../parse-time.js';

type Schemas = ReturnType<typeof buildSchemas>;

export function auditRoutes(app: FastifyInstance, service: SequenceService, schemas: Schemas): void {
  app.get<{ Querystring: AuditInput }>('/api/v1/audit', { schema: { ...doc(TAGS.audit, 'Audit events of a series, filtered and paged (follow nextCursor)'), querystring: schemas.auditQuery } }, async (req) => {
    const q = req.query;
    const from = parseTime(q.from, 'from');
    const to = parseTime(q.to, 'to');
    const series = await service.readSeries(q.series);
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

  // One series when named; else every series (of one period when `period` is given).
  app.get<{ Querystring: VerifyInput }>('/api/v1/audit/verify', { schema: { ...doc(TAGS.audit, 'Recompute the hash chain and continuity: one series, one period, or every series'), querystring: schemas.verifyQuery } }, async (req) => {
    const { series, period } = req.query;
    if (series !== undefined) return service.verify(await service.readSeries(series));
    return service.verifyAll(period);
  });
}
