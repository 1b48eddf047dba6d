import { Readable } from 'node:stream';
import { refuseArchived } from '../../service/series-archive.js';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ValidationError } from '../../domain/errors/index.js';
import { isInternalSeries } from '../../domain/series-strategy.js';
import type { AuditEventType, InvoiceType } from '../../domain/types.js';
import { AUDIT_COLUMNS, exportAuditEvents } from '../../service/export/audit-export.js';
import { EXPORT_FORMATS, formatRows, type ExportFormat } from '../../service/export/export-format.js';
import { FormattedNumbers } from '../../service/export/formatted-numbers.js';
import type { SequenceService } from '../../service/sequence-service.js';
import { gapStatus, statusesOf, type buildSchemas, type GapStatus } from '../schemas.js';
import { doc, TAGS } from '../openapi.js';
import { parseTime } from '../parse-time.js';

interface AuditExportQuery {
  format: ExportFormat;
  from?: string;
  to?: string;
  event?: AuditEventType;
  siteId?: string;
  partitionId?: string;
  invoiceType?: InvoiceType;
  series?: string;
  allSeries?: boolean;
}
interface GapsExportQuery {
  format: ExportFormat;
  status: GapStatus;
  series?: string;
}

const GAP_PAGE = 10_000;
// series and formatted were added later: at the end, tools read the earlier ones by position.
const GAP_COLUMNS = ['number', 'status', 'reason', 'siteId', 'partitionId', 'invoiceType', 'changedAt', 'series', 'formatted'] as const;

function streamAs(reply: FastifyReply, format: ExportFormat, name: string, lines: AsyncIterable<string>): FastifyReply {
  // `:` is not allowed in file names on every system.
  const file = name.replaceAll(':', '_');
  return reply
    .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
    .header('content-disposition', `attachment; filename="${file}.${format}"`)
    .send(Readable.from(lines));
}

/**
 * Auditor exports, streamed (memory stays flat for any history): the audit trail and the gap
 * report as CSV or NDJSON. `X-Seqd-Total-Events` tells a client how many events the series has,
 * so that it can show progress while the export streams.
 */
export function exportRoutes(app: FastifyInstance, service: SequenceService, schemas: ReturnType<typeof buildSchemas>): void {
  const format = { type: 'string', enum: [...EXPORT_FORMATS], default: 'ndjson' } as const;
  const { properties: audit } = schemas.auditQuery;

  app.get<{ Querystring: AuditExportQuery }>(
    '/api/v1/audit/export',
    {
      schema: {
        ...doc(TAGS.audit, 'Stream the audit trail of a series, or of every series (allSeries=true), as CSV or NDJSON (X-Seqd-Total-Events: events to expect)'),
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            format,
            series: audit.series,
            allSeries: { type: 'boolean', description: 'every series one after the other, in name order (not with series)' },
            from: audit.from,
            to: audit.to,
            event: audit.event,
            siteId: audit.siteId,
            partitionId: audit.partitionId,
            invoiceType: audit.invoiceType,
          },
        },
      },
    },
    async (req, reply) => {
      const q = req.query;
      if (q.allSeries === true && q.series !== undefined) throw new ValidationError('series and allSeries=true exclude each other', { field: 'allSeries' });
      const names = q.allSeries === true ? (await service.store.listSeries()).sort() : [await service.readSeries(q.series)];
      const filter = { from: parseTime(q.from, 'from'), to: parseTime(q.to, 'to'), type: q.event, siteId: q.siteId, partitionId: q.partitionId, invoiceType: q.invoiceType };
      // An archived series holds only the events after its archive's head.
      const counts = await Promise.all(
        names.map(async (name) => {
          const s = await service.store.loadSeries(name, service.firstNumber);
          return s.eventSeq - (s.archived?.headSeq ?? 0);
        }),
      );
      const total = counts.reduce((a, b) => a + b, 0);
      const t0 = performance.now();
      let before = 0;
      const onProgress = (read: number) => {
        if ((before + read) % 100_000 === 0) req.log.info(`audit export: ${before + read} of ${total} events read`);
      };
      async function* everySeries() {
        for (const [i, series] of names.entries()) {
          const format = isInternalSeries(series) ? null : service.directory.formatterOf(series);
          yield* exportAuditEvents(service.store, { series, ...filter }, onProgress, format);
          before += counts[i] ?? 0;
        }
      }
      const lines = formatRows(everySeries(), q.format, AUDIT_COLUMNS);
      reply.header('x-seqd-total-events', String(total));
      reply.raw.once('finish', () => req.log.info(`audit export done in ${Math.round(performance.now() - t0)} ms`));
      return streamAs(reply, q.format, q.allSeries === true ? 'seqd-audit-all-series' : `seqd-audit-${names[0] ?? ''}`, lines);
    },
  );

  app.get<{ Querystring: GapsExportQuery }>(
    '/api/v1/sequence/gaps/export',
    {
      schema: {
        ...doc(TAGS.audit, 'Stream the gap report of a series as CSV or NDJSON'),
        querystring: {
          type: 'object',
          additionalProperties: false,
          // Defaults to all: the auditors' report lists refilled numbers too.
          properties: { format, series: audit.series, status: gapStatus('all') },
        },
      },
    },
    async (req, reply) => {
      const series = await service.readSeries(req.query.series);
      await refuseArchived(service, series);
      const statuses = statusesOf(req.query.status);
      // Each number as its (last) holder was shown it: formatted at the allocation that gave it.
      const formatted = new FormattedNumbers(service.store, series, service.directory.formatterOf(series));
      // Page by page (ascending number): memory stays flat for any gap report.
      async function* rows() {
        let after: number | undefined;
        for (;;) {
          const page = await service.store.listNumbers({ series, statuses, limit: GAP_PAGE, afterNumber: after });
          for (const r of page) yield { ...r, changedAt: new Date(r.changedAt).toISOString(), series, formatted: await formatted.of(r.number, r.number, r.grant) };
          const last = page[page.length - 1];
          if (!last || page.length < GAP_PAGE) return;
          after = last.number;
        }
      }
      return streamAs(reply, req.query.format, `seqd-gaps-${series}`, formatRows(rows(), req.query.format, GAP_COLUMNS));
    },
  );
}
