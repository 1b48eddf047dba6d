import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { walkBackup, type BackupSummary } from './backup-walk.js';

/** Where a backup is written until it is complete and checked: never a name a restore would pick up as done. */
export function partialName(path: string): string {
  return join(dirname(path), `.${basename(path)}.partial-${process.pid}`);
}

/**
 * Writes a backup file from its lines: compressed into a temporary name beside `path`, fsync'd,
 * read back and checked in full (checksum, chains, manifest), and only then renamed to `path`
 * (and the directory fsync'd). A crash or a failed check leaves no file at `path`.
 */
export async function writeBackupFile(path: string, lines: AsyncIterable<string>): Promise<BackupSummary & { bytes: number }> {
  return saveBackup(path, [Readable.from(lines), createGzip()]);
}

/**
 * As {@link writeBackupFile}, from bytes already compressed (a backup streamed by the admin API):
 * `stages` are piped into the file in order, an error in any of them fails the whole.
 */
export async function saveBackup(path: string, stages: readonly [NodeJS.ReadableStream, ...NodeJS.ReadWriteStream[]]): Promise<BackupSummary & { bytes: number }> {
  const tmp = partialName(path);
  try {
    await pipeline([...stages, createWriteStream(tmp, { flags: 'wx' })]);
    const bytes = await fsync(tmp);
    const summary = await walkBackup(tmp);
    await rename(tmp, path);
    await fsyncDir(dirname(path));
    return { ...summary, bytes };
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

async function fsync(path: string): Promise<number> {
  const h = await open(path, 'r+');
  try {
    await h.sync();
    return (await h.stat()).size;
  } finally {
    await h.close();
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}
