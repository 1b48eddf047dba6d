import type { Command } from 'commander';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ARCHIVE_FORMAT } from '../backup/backup-format.js';
import { walkBackup, type BackupSummary } from '../backup/backup-walk.js';
import { BackupInvalidError } from '../domain/errors/index.js';
import { adminRequest, failAdmin, UsageProblem } from './admin-api.js';
import { saveStreamed, ticker } from './backup-commands.js';
import { EXIT, reportFailure } from './exit-codes.js';
import type { SeriesImage } from '../storage/store-transfer.js';

interface ArchiveOptions {
  out?: string;
  url?: string;
  apiKey?: string;
  reason?: string;
  keep?: boolean;
}

/** The one series an archive holds, once its header and content agree; anything else is not an archive. */
function archivedSeries(file: string, s: BackupSummary): { series: string; seq: number; hash: string; hwm: number } {
  const head = s.heads[0];
  if (s.header.format !== ARCHIVE_FORMAT) throw new BackupInvalidError(`${file} is a backup of a whole store, not an archive of a series`);
  if (!head || s.heads.length !== 1 || head.series !== s.header.series) throw new BackupInvalidError(`${file}: an archive must hold exactly the series its header names`);
  return head;
}

/** The archive of `series` at `out`, checked in full; anything else there is never overwritten. */
async function ownArchive(out: string, series: string): Promise<BackupSummary> {
  const summary = await walkBackup(out, { series: async (image) => refuseUnclosed(out, image) }).catch(() => null);
  if (summary?.header.format !== ARCHIVE_FORMAT || summary.header.series !== series) {
    throw new UsageProblem(`${out} exists and is not a valid archive of series ${series}: an archive never overwrites a file; choose another name`);
  }
  return summary;
}

/** An archive holds a closed series with its whole trail: not an open one, nor one archived before. */
async function refuseUnclosed(file: string, image: SeriesImage): Promise<void> {
  const s = image.state;
  if (s.closedAt === null) throw new BackupInvalidError(`${file}: series ${s.series} is open in it: not an archive of a closed period`);
  if (s.archived) throw new BackupInvalidError(`${file}: series ${s.series} was archived before this file was written: its trail is in ${s.archived.file}`);
}

/**
 * `seqd archive SERIES --out FILE`: writes a closed series to a self-checking archive file (from a
 * running instance), and once the file is complete, checked and fsync'd, removes the series from
 * the store with an audited `archive` event (unless `--keep`). `seqd archive verify FILE` checks an
 * archive offline, with nothing but the file.
 */
export function archiveCommands(program: Command): void {
  const archive = program
    .command('archive')
    .description('archive a closed series to a file, then remove it from the store (seqd archive verify FILE checks an archive offline)')
    .argument('<series>', 'the closed series to archive')
    // Checked in the action, not required here: commander would ask them of `archive verify` too.
    .option('--out <file>', 'the archive file to write, required (complete and checked, or not there at all)')
    .option('--reason <text>', 'why, required (recorded in the archive event), e.g. "retention: period 2019 archived"')
    .option('--keep', 'write and check the archive, but leave the series in the store')
    .option('--url <url>', 'the running seqd (env SEQD_URL; default http://127.0.0.1:8080)')
    .option('--api-key <key>', 'an API key with role admin, when the server requires keys (env SEQD_API_KEY)')
    .action(async (series: string, o: ArchiveOptions) => {
      try {
        if (o.out === undefined || o.reason === undefined) throw new UsageProblem('seqd archive SERIES needs --out FILE and --reason TEXT');
        const { out, reason } = o;
        const t0 = performance.now();
        // Run again after an interruption, the command goes on with the archive it wrote.
        const existing = (await stat(out).then(() => true, () => false)) ? await ownArchive(out, series) : null;
        const summary = existing ?? (await saveStreamed({ ...o, out }, '/api/v1/admin/archive', { series }, `archive of ${series}`));
        const head = archivedSeries(out, summary);
        console.log(
          `archive ${existing ? 'found and checked' : 'written and checked'}: ${out} (${summary.counts.events} events, ${summary.counts.numbers} number records, ${((await stat(out)).size / 1e6).toFixed(1)} MB)`,
        );
        console.log(`  ${series}: high-water mark ${head.hwm}, head ${head.seq}:${head.hash}, sha256 ${summary.sha256}`);
        if (o.keep) {
          console.log('kept in the store (--keep): run again without --keep to remove it');
          return;
        }
        const body = { series, file: resolve(out), sha256: summary.sha256, head: `${head.seq}:${head.hash}`, reason };
        const res = await adminRequest(o, 'POST', '/api/v1/admin/archive/remove', body);
        const answer = (await res.json()) as { removed: number; archive: { archivedAt: string } };
        console.log(
          `removed from the store: ${answer.removed} records, in ${((performance.now() - t0) / 1000).toFixed(1)} s; the archive event (${answer.archive.archivedAt}) names ${body.file}. Keep the file: it is the only copy of the series' trail`,
        );
      } catch (error) {
        failAdmin(error);
      }
    });

  archive
    .command('verify <file>')
    .description('check an archive offline: its checksum, hash chain, number continuity and manifest (no server, no store)')
    .action(async (file: string) => {
      try {
        const tick = ticker();
        const summary = await walkBackup(file, { series: async (image) => refuseUnclosed(file, image) }, (n) => tick(() => `verify: ${n} events`));
        const head = archivedSeries(file, summary);
        console.log(`archive valid: ${file}`);
        console.log(`  series ${head.series}: ${summary.counts.events} events, high-water mark ${head.hwm}, head ${head.seq}:${head.hash}`);
        console.log(`  sha256 ${summary.sha256}, written ${new Date(summary.header.createdAt).toISOString()} from the ${summary.header.store.kind} store ${summary.storeId ?? ''}`.trimEnd());
      } catch (error) {
        if (error instanceof BackupInvalidError) reportFailure(`INVALID: ${error.message}`, EXIT.invalid);
        else failAdmin(error);
      }
    });
}
