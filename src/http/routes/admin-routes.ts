import type { FastifyInstance } from 'fastify';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { storeBackup } from '../../backup/store-backup.js';
import type { SequenceService } from '../../service/sequence-service.js';
import { actorOf } from '../auth.js';
import { doc, TAGS } from '../openapi.js';
import type { buildSchemas, MaintenanceInput } from '../schemas.js';

const BACKUP_DESCRIPTION =
  'Streams a backup of the whole store, taken at one point in time while numbers keep being issued: every series\' state, ' +
  'number records, audit events with their hashes, the idempotency records inside the key window, settings and the store identity, ' +
  'then a manifest (counts, chain heads, SHA-256). gzip\'d NDJSON. `seqd backup --out FILE` calls this, checks the file and renames it into place; ' +
  'a response cut short has no manifest and is refused by `seqd restore`.';

const MAINTENANCE_DESCRIPTION =
  'While maintenance is on the store commits nothing but the switch that ends it: every instance refuses allocations, releases, ' +
  'confirms and closes with 503 MAINTENANCE, checked inside the committing write (a copy taken once the switch answered misses no number). ' +
  'Both switches are audit events (setting `maintenance`) with their reason and who made them. `seqd maintenance on|off` calls this.';

type Schemas = ReturnType<typeof buildSchemas>;

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
    const t0 = performance.now();
    // Opened before the answer starts: a store that cannot give a snapshot is a 503 with its reason.
    const lines = await storeBackup(service.store, { requestWindowMs: service.requestWindowMs });
    const gzip = createGzip();
    pipeline(Readable.from(lines), gzip).then(
      () => req.log.info(`backup streamed in ${Math.round(performance.now() - t0)} ms`),
      (error: unknown) => req.log.error({ err: error }, 'backup stream failed: the client gets a file without manifest'),
    );
    const stamp = new Date().toISOString().replaceAll(':', '').replace(/\..*/, 'Z');
    return reply.type('application/gzip').header('content-disposition', `attachment; filename="seqd-${stamp}.seqd-backup"`).send(gzip);
  });
}
