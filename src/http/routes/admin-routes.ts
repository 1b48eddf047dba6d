import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { storeBackup } from '../../backup/store-backup.js';
import { parseSavedHead } from '../../domain/saved-head.js';
import { archiveLines, removeArchivedSeries } from '../../service/series-archive.js';
import type { SequenceService } from '../../service/sequence-service.js';
import { actorOf } from '../auth.js';
import { doc, TAGS } from '../openapi.js';
import type { ArchiveInput, ArchiveRemoveInput, buildSchemas, MaintenanceInput } from '../schemas.js';

const BACKUP_DESCRIPTION =
  'Streams a backup of the whole store, taken at one point in time while numbers keep being issued: every series\' state, ' +
  'number records, audit events with their hashes, the idempotency records inside the key window, settings and the store identity, ' +
  'then a manifest (counts, chain heads, SHA-256). gzip\'d NDJSON. `seqd backup --out FILE` calls this, checks the file and renames it into place; ' +
  'a response cut short has no manifest and is refused by `seqd restore`.';

const MAINTENANCE_DESCRIPTION =
  'While maintenance is on the store commits nothing but the switch that ends it: every instance refuses allocations, releases, ' +
  'confirms and closes with 503 MAINTENANCE, checked inside the committing write (a copy taken once the switch answered misses no number). ' +
  'Both switches are audit events (setting `maintenance`) with their reason and who made them. `seqd maintenance on|off` calls this.';

const ARCHIVE_DESCRIPTION =
  'Streams an archive of one closed series: its state, number records and every audit event with its hash, then a manifest ' +
  '(counts, chain head, SHA-256); gzip\'d NDJSON, consistent at one point in time. Nothing is removed: `seqd archive SERIES --out FILE` ' +
  'calls this, checks the file, keeps it, and only then asks for the removal. An open series is refused (close it first).';

const ARCHIVE_REMOVE_DESCRIPTION =
  'Takes a closed series out of the store once its archive is safe: an audited `archive` event names the file, its checksum and the chain ' +
  'head it ends at (refused when the series moved past that head), then its archived events and number records are deleted. The series ' +
  'state, its totals and the archive event stay: every read and op of the series then answers where it went (410 SERIES_ARCHIVED for ops). ' +
  'Repeating the call with the same archive finishes an interrupted removal.';

type Schemas = ReturnType<typeof buildSchemas>;

const stamp = () => new Date().toISOString().replaceAll(':', '').replace(/\..*/, 'Z');

/** Streams lines gzip'd as a download; a failure midway leaves the client a file without manifest. */
function sendGzipLines(req: FastifyRequest, reply: FastifyReply, lines: AsyncGenerator<string>, fileName: string, what: string) {
  const t0 = performance.now();
  const gzip = createGzip();
  pipeline(Readable.from(lines), gzip).then(
    () => req.log.info(`${what} streamed in ${Math.round(performance.now() - t0)} ms`),
    (error: unknown) => req.log.error({ err: error }, `${what} stream failed: the client gets a file without manifest`),
  );
  return reply.type('application/gzip').header('content-disposition', `attachment; filename="${fileName}"`).send(gzip);
}

export function adminRoutes(app: FastifyInstance, service: SequenceService, schemas: Schemas): void {
  app.post<{ Body: MaintenanceInput }>(
    '/api/v1/admin/maintenance',
    { config: { access: 'admin' }, schema: { ...doc(TAGS.admin, 'Switch maintenance on or off (audited)', MAINTENANCE_DESCRIPTION), body: schemas.maintenanceBody } },
    async (req) => {
      await service.setMaintenance(req.body.enabled, req.body.reason, actorOf(req));
      return service.shownSettings;
    },
  );

  app.post('/api/v1/admin/backup', { config: { access: 'admin' }, schema: doc(TAGS.admin, 'Back up the whole store (streamed, consistent at one point in time)', BACKUP_DESCRIPTION) }, async (req, reply) => {
    // Opened before the answer starts: a store that cannot give a snapshot is a 503 with its reason.
    const lines = await storeBackup(service.store, { requestWindowMs: service.requestWindowMs });
    return sendGzipLines(req, reply, lines, `seqd-${stamp()}.seqd-backup`, 'backup');
  });

  app.post<{ Body: ArchiveInput }>(
    '/api/v1/admin/archive',
    { config: { access: 'admin' }, schema: { ...doc(TAGS.admin, 'Archive a closed series (streamed; removes nothing)', ARCHIVE_DESCRIPTION), body: schemas.archiveBody } },
    async (req, reply) => {
      const lines = await archiveLines(service, req.body.series);
      return sendGzipLines(req, reply, lines, `${req.body.series}-${stamp()}.seqd-archive`, `archive of ${req.body.series}`);
    },
  );

  app.post<{ Body: ArchiveRemoveInput }>(
    '/api/v1/admin/archive/remove',
    { config: { access: 'admin' }, schema: { ...doc(TAGS.admin, 'Remove an archived series from the store (audited)', ARCHIVE_REMOVE_DESCRIPTION), body: schemas.archiveRemoveBody } },
    async (req) => {
      const { series, file, sha256, reason } = req.body;
      const head = parseSavedHead(req.body.head);
      const { archive, removed } = await removeArchivedSeries(service, series, { file, sha256, head, reason }, actorOf(req));
      return { series, archive: { ...archive, archivedAt: new Date(archive.archivedAt).toISOString() }, removed };
    },
  );
}
