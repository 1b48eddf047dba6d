import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { BackupInvalidError } from '../domain/errors/index.js';
import { ARCHIVE_FORMAT, BACKUP_FORMAT, BACKUP_VERSION, type BackupHeader, type BackupLine, type BackupManifest } from './backup-format.js';

/** Longest line accepted (a line holds at most a few thousand rows): a bound against a hostile file. */
const MAX_LINE_BYTES = 64 * 1024 * 1024;

/** The lines of a gzip'd NDJSON file, as text without their newline; a damaged gzip stream throws. */
async function* textLines(path: string): AsyncGenerator<string> {
  const gunzip = createGunzip();
  const file = createReadStream(path);
  file.on('error', (error) => gunzip.destroy(error));
  file.pipe(gunzip);
  const decoder = new StringDecoder('utf8');
  let pending = '';
  try {
    for await (const chunk of gunzip) {
      pending += decoder.write(chunk as Buffer);
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        yield pending.slice(0, nl);
        pending = pending.slice(nl + 1);
      }
      if (pending.length > MAX_LINE_BYTES) throw new BackupInvalidError(`${path}: a line longer than ${MAX_LINE_BYTES} bytes: not a seqd backup`);
    }
  } catch (error) {
    if (error instanceof BackupInvalidError) throw error;
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') throw error;
    throw new BackupInvalidError(`${path}: not a readable gzip file (${(error as Error).message}): truncated or damaged`, { cause: error });
  } finally {
    file.destroy();
  }
  pending += decoder.end();
  if (pending.length > 0) yield pending;
}

/**
 * Reads a backup file: answers its lines one by one (header first, manifest excluded) and, once
 * the last has been read, checks the manifest's checksum: a file cut short, edited or with
 * anything after its manifest throws {@link BackupInvalidError} there. A caller that acts on the
 * lines before the end must be ready to undo or to leave its work marked unfinished.
 */
export async function* readBackup(path: string): AsyncGenerator<BackupLine, BackupManifest> {
  const sha = createHash('sha256');
  let manifest: BackupManifest | null = null;
  let first = true;
  for await (const text of textLines(path)) {
    if (manifest) throw new BackupInvalidError(`${path}: data after the manifest: the file was edited or joined`);
    let line: BackupLine;
    try {
      line = JSON.parse(text) as BackupLine;
    } catch {
      throw new BackupInvalidError(first ? `${path}: not a seqd backup (the first line is not JSON)` : `${path}: a line is not JSON: the file is damaged`);
    }
    if (first) checkHeader(path, line);
    first = false;
    if (line.t === 'manifest') {
      manifest = line;
      continue;
    }
    sha.update(`${text}\n`);
    yield line;
  }
  if (!manifest) throw new BackupInvalidError(`${path}: no manifest at the end: the backup is incomplete (cut short while written or copied)`);
  if (sha.digest('hex') !== manifest.sha256) throw new BackupInvalidError(`${path}: the checksum does not match the manifest: the file was changed after it was written`);
  return manifest;
}

function checkHeader(path: string, line: BackupLine): asserts line is BackupHeader {
  const format = (line as Partial<BackupHeader>).format;
  if (line.t !== 'header' || (format !== BACKUP_FORMAT && format !== ARCHIVE_FORMAT)) throw new BackupInvalidError(`${path}: not a seqd backup or archive (no seqd-backup or seqd-archive header)`);
  if (typeof line.version !== 'number' || line.version > BACKUP_VERSION) {
    throw new BackupInvalidError(`${path}: backup format version ${String(line.version)} was written by a newer seqd (this one reads up to ${BACKUP_VERSION}): restore it with that version`);
  }
}
