import { BackupInvalidError, SeqdError, StoreIdentityError, StoreNotEmptyError, StoreUnavailableError } from '../domain/errors/index.js';
import { EXIT, reportFailure } from './exit-codes.js';

/** A usage problem found by the command itself: one line, exit 2. */
export class UsageProblem extends Error {}
class Unreachable extends Error {}
class Refused extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface AdminTarget {
  readonly url?: string | undefined;
  readonly apiKey?: string | undefined;
}

/** Calls an admin route of a running seqd; answers the response when it is 2xx, else throws (see {@link failAdmin}). */
export async function adminRequest(o: AdminTarget, method: string, path: string, body?: unknown): Promise<Response> {
  const base = (o.url ?? process.env.SEQD_URL?.split(',')[0] ?? 'http://127.0.0.1:8080').trim().replace(/\/$/, '');
  if (!/^https?:\/\/[^/]/.test(base) || !URL.canParse(base)) throw new UsageProblem(`"${base}" is not an http(s) URL (--url or SEQD_URL)`);
  const key = o.apiKey ?? process.env.SEQD_API_KEY;
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  } catch (error) {
    const cause = (error as Error).cause;
    throw new Unreachable(`no answer from ${base}: ${cause instanceof Error ? cause.message : (error as Error).message}`);
  }
  if (!res.ok) {
    const answer = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
    throw new Refused(`${answer?.error?.code ?? res.status}: ${answer?.error?.message ?? res.statusText}`, res.status);
  }
  return res;
}

/** Reports a failure of an admin command in one line with its exit code (see {@link EXIT}). */
export function failAdmin(error: unknown): void {
  if (error instanceof UsageProblem) reportFailure(error.message, EXIT.usage);
  else if (error instanceof Unreachable) reportFailure(error.message, EXIT.unreachable);
  else if (error instanceof Refused) reportFailure(error.message, error.status < 500 ? EXIT.refused : EXIT.serverError);
  // Refused after the load (the verify): the store was written and stays marked unfinished.
  else if (error instanceof BackupInvalidError) reportFailure(/unfinished/.test(error.message) ? error.message : `${error.message}; nothing was written`, EXIT.invalid);
  else if (error instanceof StoreNotEmptyError) reportFailure(error.message, EXIT.refused);
  else if (error instanceof SeqdError || error instanceof StoreIdentityError || error instanceof StoreUnavailableError) reportFailure(error.message, EXIT.serverError);
  else reportFailure(error instanceof Error ? error.message : String(error), EXIT.serverError);
}
