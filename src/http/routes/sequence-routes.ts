import type { FastifyInstance } from 'fastify';
import type { SequenceService } from '../../service/sequence-service.js';
import { buildStats, seriesReport, seriesSummary } from '../../service/stats.js';
import type { ClusterInfo } from '../../storage/open-store.js';
import { ValidationError } from '../../domain/errors/index.js';
import { REQUEST_ID_PATTERN, type buildSchemas, type ConfirmInput, type GapsInput, type NextInput, type ReleaseInput, type SettingsInput } from '../schemas.js';

type Schemas = ReturnType<typeof buildSchemas>;

const KEY = new RegExp(REQUEST_ID_PATTERN);

/** The `Idempotency-Key` header and the `requestId` field name the same thing: one key per request. */
function withIdempotencyKey(input: NextInput, header: string | string[] | undefined): NextInput {
  if (header === undefined) return input;
  const key = Array.isArray(header) ? header[0] : header;
  if (Array.isArray(header) && header.length > 1) {
    throw new ValidationError('send one Idempotency-Key header', { field: 'Idempotency-Key' });
  }
  if (key === undefined || key.length > 200 || !KEY.test(key)) {
    throw new ValidationError('Idempotency-Key must be 1 to 200 visible ASCII characters', { field: 'Idempotency-Key' });
  }
  if (input.requestId !== undefined && input.requestId !== key) {
    throw new ValidationError('Idempotency-Key and requestId differ; send one key', { field: 'requestId' });
  }
  return { ...input, requestId: key };
}

export function sequenceRoutes(
  app: FastifyInstance,
  service: SequenceService,
  schemas: Schemas,
  gapLimit: number,
  clusterInfo: () => Promise<ClusterInfo | null>,
): void {
  app.get<{ Querystring: NextInput }>('/api/v1/sequence/next', { schema: { querystring: schemas.nextQuery } }, (req) =>
    service.next(withIdempotencyKey(req.query, req.headers['idempotency-key'])),
  );
  app.post<{ Body: NextInput }>('/api/v1/sequence/next', { schema: { body: schemas.nextBody } }, (req) =>
    service.next(withIdempotencyKey(req.body, req.headers['idempotency-key'])),
  );
  app.post<{ Body: ReleaseInput }>('/api/v1/sequence/release', { schema: { body: schemas.releaseBody } }, (req) =>
    service.release(req.body),
  );
  app.post<{ Body: ConfirmInput }>('/api/v1/sequence/confirm', { schema: { body: schemas.confirmBody } }, (req) =>
    service.confirm(req.body),
  );

  app.get('/api/v1/sequence/stats', async () => ({ ...(await buildStats(service)), cluster: await clusterInfo() }));

  app.get<{ Querystring: GapsInput }>('/api/v1/sequence/gaps', { schema: { querystring: schemas.gapsQuery } }, async (req) => {
    const statuses = req.query.status === 'all' ? (['open', 'void'] as const) : ([req.query.status] as const);
    const limit = req.query.limit ?? gapLimit;
    const series = await service.readSeries(req.query.series);
    const [rows, state] = await Promise.all([service.numbers(series, [...statuses], limit + 1), service.store.loadSeries(series, 1)]);
    const gaps = rows.slice(0, limit).map((r) => ({
      sequenceNumber: r.number,
      status: r.status,
      reason: r.reason,
      siteId: r.siteId,
      partitionId: r.partitionId,
      invoiceType: r.invoiceType,
      [r.status === 'refilled' ? 'refilledAt' : 'releasedAt']: new Date(r.changedAt).toISOString(),
    }));
    return {
      series,
      status: req.query.status,
      gaps,
      count: gaps.length,
      truncated: rows.length > limit,
      limit,
      seriesStatus: state.closedAt === null ? 'open' : 'closed',
      openGaps: state.openGaps.length,
      voidGaps: state.counters.voided,
      refills: state.counters.refilled,
      gapRecoveryEnabled: service.gapPolicy !== 'none',
      gapPolicy: service.gapPolicy,
    };
  });

  app.get('/api/v1/sequence/series', async () => {
    const { splitBy, rollover } = service.directory.strategy;
    const states = await service.seriesStates();
    return {
      defaultSeries: service.defaultSeries(),
      strategy: { splitBy, rollover },
      series: states.map(seriesSummary).sort((a, b) => a.name.localeCompare(b.name)),
    };
  });
  app.get<{ Params: { name: string } }>(
    '/api/v1/sequence/series/:name',
    { schema: { params: schemas.seriesParams } },
    (req) => seriesReport(service, req.params.name),
  );

  app.get('/api/v1/settings', () => service.shownSettings);
  app.put<{ Body: SettingsInput }>('/api/v1/settings', { schema: { body: schemas.settingsBody } }, async (req) => {
    await service.setSimulated(req.body.simulatedEnabled, req.body.reason ?? 'changed through the API');
    return service.shownSettings;
  });
}
