import type { FastifyInstance } from 'fastify';
import type { AuditPage, SequenceService } from '../../service/sequence-service.js';
import { doc, TAGS } from '../openapi.js';
import type { AuditInput, buildSchemas, VerifyInput } from '../schemas.js';
import { parseTime } from '../parse-time.js';
import { ValidationError } from '../../domain/errors/index.js';
import { parseSavedHead } from '../../domain/saved-head.js';

const VERIFY_DESCRIPTION =
  'Recomputes every hash, replays every number against the stored state, and recomputes the derived tables ' +
  '(number records, totals and counters, idempotency records inside the key window) against the stored ones (`derived`). ' +
  '`head` answers the last event (seq and hash): save it and pass it back later as `head=<seq>:<hash>` (with `series`) ' +
  'to detect a trail truncated or rewritten since, even when the stored state was rewritten to match.';

type Schemas = ReturnType<typeof buildSchemas>;

export function auditRoutes(app: FastifyInstance, service: SequenceService, schemas: Schemas): void {
  app.get<{ Querystring: AuditInput }>('/api/v1/audit', { schema: { ...doc(TAGS.audit, 'Audit events of a series, filtered and paged (follow nextCursor)'), querystring: schemas.auditQuery, response: schemas.auditResponse } }, async (req): Promise<AuditPage> => {
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

  // One series when named; else every series (of one period when `period` is given). A saved
  // head belongs to one series, so `head` needs `series`.
  app.get<{ Querystring: VerifyInput }>(
    '/api/v1/audit/verify',
    {
      schema: {
        ...doc(TAGS.audit, 'Recompute the hash chain, continuity and derived tables: one series, one period, or every series', VERIFY_DESCRIPTION),
        querystring: schemas.verifyQuery,
        response: schemas.verifyResponse,
      },
    },
    async (req) => {
      const { series, period, head } = req.query;
      const savedHead = head === undefined ? undefined : parseSavedHead(head);
      if (series !== undefined) return service.verify(await service.readSeries(series), { savedHead });
      if (savedHead) throw new ValidationError('head needs series: a saved head belongs to one series', { field: 'series' });
      return service.verifyAll(period);
    },
  );
}
