import type { FastifyInstance } from 'fastify';
import type { SequenceService } from '../../service/sequence-service.js';
import { buildStats, seriesReport, seriesSummary } from '../../service/stats.js';
import type { ClusterInfo } from '../../storage/open-store.js';
import { ValidationError } from '../../domain/errors/index.js';
import { archivedError } from '../../domain/planner.js';
import { pageOfSeries } from '../../domain/series-page.js';
import { actorOf } from '../auth.js';
import { doc, TAGS } from '../openapi.js';
import { REQUEST_ID_PATTERN, statusesOf, type buildSchemas, type ConfirmInput, type GapsInput, type NextInput, type ReleaseInput, type SeriesListInput, type SettingsInput, type StatsInput } from '../schemas.js';

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
  const nextDoc = 'Numbers from the series of the request (`series` in the answer), refilled gaps first. Send an `Idempotency-Key` header (or `requestId`) to make a retry return the same numbers.';
  app.get<{ Querystring: NextInput }>('/api/v1/sequence/next', { config: { access: 'allocate' }, schema: { ...doc(TAGS.sequence, 'Take the next number(s) (query form)', nextDoc), querystring: schemas.nextQuery, response: schemas.nextResponse } }, (req) =>
    service.next(withIdempotencyKey(req.query, req.headers['idempotency-key']), actorOf(req)),
  );
  app.post<{ Body: NextInput }>('/api/v1/sequence/next', { config: { access: 'allocate' }, schema: { ...doc(TAGS.sequence, 'Take the next number(s)', nextDoc), body: schemas.nextBody, response: schemas.nextResponse } }, (req) =>
    service.next(withIdempotencyKey(req.body, req.headers['idempotency-key']), actorOf(req)),
  );
  const actDoc =
    'Pass the `allocation` that next answered: the call then acts only while that allocation holds the number (409 NUMBER_REASSIGNED otherwise), so a retry can never touch a number handed to someone else since.';
  app.post<{ Body: ReleaseInput }>('/api/v1/sequence/release', { config: { access: 'manage' }, schema: { ...doc(TAGS.sequence, 'Give a number back: an open gap, or void under the policy (409 when confirmed, already released, held by another holder or no longer held by the allocation named)', `${actDoc} A repeated release of the same allocation answers alreadyReleased: true.`), body: schemas.releaseBody, response: schemas.releaseResponse } }, (req) =>
    service.release(req.body, actorOf(req)),
  );
  app.post<{ Body: ConfirmInput }>('/api/v1/sequence/confirm', { config: { access: 'manage' }, schema: { ...doc(TAGS.sequence, 'Finalise a number: it can no longer be released', actDoc), body: schemas.confirmBody, response: schemas.confirmResponse } }, (req) =>
    service.confirm(req.body, actorOf(req)),
  );

  app.get<{ Querystring: StatsInput }>(
    '/api/v1/sequence/stats',
    {
      schema: {
        ...doc(TAGS.series, 'HWM per series, totals by site/partition/type, gaps, throughput, latency, store and cluster health', '`status` names only the series in that state in `series[]`; the totals stay those of every series.'),
        querystring: schemas.statsQuery,
      },
    },
    async (req) => ({ ...(await buildStats(service, req.query.status)), cluster: await clusterInfo() }),
  );

  const gapsDoc = 'Ascending by number; a report longer than `limit` is `truncated`: ask again with `cursor` set to `nextCursor`.';
  app.get<{ Querystring: GapsInput }>('/api/v1/sequence/gaps', { schema: { ...doc(TAGS.series, 'The gap report of a series (default: the current one), paged', gapsDoc), querystring: schemas.gapsQuery } }, async (req) => {
    const { status, cursor } = req.query;
    const limit = req.query.limit ?? gapLimit;
    const series = await service.readSeries(req.query.series);
    // One more than the page: whether anything follows it, without a count.
    const [rows, state] = await Promise.all([
      service.store.listNumbers({ series, statuses: statusesOf(status), limit: limit + 1, afterNumber: cursor }),
      service.store.loadSeries(series, service.firstNumber),
    ]);
    // Its number records left with its archive: an empty report would claim it had no gaps.
    if (state.archived) throw archivedError(series, state.archived);
    const gaps = rows.slice(0, limit).map((r) => ({
      sequenceNumber: r.number,
      status: r.status,
      reason: r.reason,
      siteId: r.siteId,
      partitionId: r.partitionId,
      invoiceType: r.invoiceType,
      [r.status === 'refilled' ? 'refilledAt' : 'releasedAt']: new Date(r.changedAt).toISOString(),
    }));
    const truncated = rows.length > limit;
    return {
      series,
      status,
      gaps,
      count: gaps.length,
      truncated,
      limit,
      nextCursor: truncated ? (gaps[gaps.length - 1]?.sequenceNumber ?? null) : null,
      seriesStatus: state.closedAt === null ? 'open' : 'closed',
      openGaps: state.openGaps.length,
      voidGaps: state.counters.voided,
      refills: state.counters.refilled,
      gapRecoveryEnabled: service.gapPolicy !== 'none',
      gapPolicy: service.gapPolicy,
    };
  });

  const pagingDoc = '`status` lists only the series in that state; `limit` pages the listing by name: ask again with `cursor` set to `nextCursor`. `count` is how many series matched.';
  app.get<{ Querystring: SeriesListInput }>(
    '/api/v1/sequence/series',
    {
      schema: {
        ...doc(TAGS.series, 'Every series (or those in one state, paged): period, open or closed, HWM, gaps; the default series and the strategy', `\`nextNumber\` is null once a series is closed: it gives no more numbers. ${pagingDoc}`),
        querystring: schemas.seriesListQuery,
      },
    },
    async (req) => {
      const { splitBy, rollover } = service.directory.strategy;
      const states = await service.seriesStates();
      return { defaultSeries: service.defaultSeries(), strategy: { splitBy, rollover }, ...pageOfSeries(states.map(seriesSummary), req.query) };
    },
  );
  app.get<{ Params: { name: string } }>(
    '/api/v1/sequence/series/:name',
    { schema: { ...doc(TAGS.series, 'The report of one series (its final report once closed)'), params: schemas.seriesParams } },
    (req) => seriesReport(service, req.params.name),
  );

  app.get('/api/v1/settings', { schema: doc(TAGS.settings, 'Runtime toggles and the configured gap policy') }, () => service.shownSettings);
  app.put<{ Body: SettingsInput }>('/api/v1/settings', { config: { access: 'admin' }, schema: { ...doc(TAGS.settings, 'Switch the simulated invoice type on or off (audited)'), body: schemas.settingsBody } }, async (req) => {
    await service.setSimulated(req.body.simulatedEnabled, req.body.reason ?? 'changed through the API', actorOf(req));
    return service.shownSettings;
  });
}
