import { randomBytes } from 'node:crypto';
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A local file problem, told in one line (the `--out` named, not the temporary file). */
export class OutFileError extends Error {
  override readonly name = 'OutFileError';
}

const WHY: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOENT: 'no such directory',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'it is a directory',
  ENOSPC: 'no space left on the device',
  EROFS: 'read-only file system',
  EDQUOT: 'disk quota exceeded',
};

function outError(out: string, error: unknown): OutFileError {
  const code = (error as { code?: string }).code;
  return new OutFileError(`cannot write ${out}: ${(code && WHY[code]) ?? (error as Error).message}`);
}

/**
 * Writes `chunks` to `out` all or nothing: into a temporary file beside it (same file system, so
 * the rename is atomic), renamed over `out` only once every chunk is written. On any failure
 * (the server's, the network's, the disk's) the temporary file is removed and `out` is left as it
 * was. Local problems throw {@link OutFileError}; the others are rethrown as they are.
 */
export async function writeAtomically(out: string, chunks: AsyncIterable<string>): Promise<void> {
  // Refused before the server is asked: the whole export would be lost at the rename.
  const existing = await stat(out).catch(() => null);
  if (existing?.isDirectory()) throw outError(out, Object.assign(new Error('directory'), { code: 'EISDIR' }));
  const tmp = join(dirname(out), `.${basename(out)}.${randomBytes(4).toString('hex')}.tmp`);
  let file: FileHandle;
  try {
    file = await open(tmp, 'wx');
  } catch (error) {
    throw outError(out, error);
  }
  try {
    for await (const chunk of chunks) {
      await file.write(chunk).catch((error: unknown) => {
        throw outError(out, error);
      });
    }
    await file.sync().catch((error: unknown) => {
      throw outError(out, error);
    });
    await file.close();
    await rename(tmp, out).catch((error: unknown) => {
      throw outError(out, error);
    });
  } catch (error) {
    await file.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw error;
  }
}
