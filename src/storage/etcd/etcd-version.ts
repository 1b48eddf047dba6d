/**
 * Series versions on etcd. A stored version names the state key's mod revision and its etcd
 * `version` (writes since creation): `"<modRevision>.<keyVersion>"`. A predicted version names a
 * batch still committing and the key version its commit gives the state:
 * `"~<batchId>.<keyVersion>"`. A batch planned on a predicted version commits only if the state
 * key's last write is that batch's: the head key holds its id AND the key version is exactly
 * the predicted one (any later write, by any seqd version, raises it).
 */
export type SeriesVersion =
  | { readonly kind: 'stored'; readonly modRevision: string; readonly keyVersion: number }
  | { readonly kind: 'predicted'; readonly afterBatch: string; readonly keyVersion: number };

export function storedVersion(modRevision: string, keyVersion: string | number): string {
  return `${modRevision}.${keyVersion}`;
}

export function predictedVersion(afterBatch: string, keyVersion: number): string {
  return `~${afterBatch}.${keyVersion}`;
}

/** Null for a string that is neither (never a version this store handed out). */
export function parseSeriesVersion(version: string): SeriesVersion | null {
  const dot = version.lastIndexOf('.');
  const keyVersion = Number(version.slice(dot + 1));
  if (dot <= 0 || !Number.isSafeInteger(keyVersion) || keyVersion < 0) return null;
  const head = version.slice(0, dot);
  if (head.startsWith('~')) return head.length > 1 ? { kind: 'predicted', afterBatch: head.slice(1), keyVersion } : null;
  return /^\d+$/.test(head) ? { kind: 'stored', modRevision: head, keyVersion } : null;
}

/** The version the series gets when a batch planned on `base` commits as `batchId`. */
export function nextSeriesVersion(base: string, batchId: string): string {
  const parsed = parseSeriesVersion(base);
  // An unreadable base cannot commit (its compare fails): predict a version nothing matches.
  return predictedVersion(batchId, parsed ? parsed.keyVersion + 1 : 0);
}
