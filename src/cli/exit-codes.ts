import type { CommanderError } from 'commander';
import { SeqdApiError } from '../client/seqd-api-error.js';
import { ConfigError, StoreIdentityError, StoreUnavailableError } from '../domain/errors/index.js';

/**
 * Exit codes of the client verbs, so that a script can tell what went wrong without parsing
 * messages (documented in the README and `--help`; `serve` has its own, listed there too).
 */
export const EXIT = {
  ok: 0,
  /** `audit verify`: the trail is invalid. */
  invalid: 1,
  /** Bad arguments or options, or a local problem such as an unwritable `--out`. */
  usage: 2,
  /** No instance answered (or the connection broke mid-answer). */
  unreachable: 3,
  /** The server refused the request (4xx): the request must change. */
  refused: 4,
  /** The server failed (5xx), or its answer could not be read. */
  serverError: 5,
} as const;

/** The exit code for an error of the API. */
export function exitCodeOf(error: SeqdApiError): number {
  if (error.status === 0) return EXIT.unreachable;
  if (error.status >= 400 && error.status < 500) return EXIT.refused;
  return EXIT.serverError;
}

/** For `--help`. */
export const EXIT_HELP = `
Exit codes of the client verbs (next, release, confirm, series, stats, gaps, audit):
  0  done
  1  audit verify: the trail is invalid
  2  bad arguments or options, or --out cannot be written
  3  no instance answered (or the connection broke)
  4  refused by the server (4xx: the request must change)
  5  server error (5xx) or an answer that could not be read
serve: 0 stopped, 1 failed, 2 bad configuration, arguments or port in use, 3 the store refused to start.`;

/**
 * Commander's own exits: help asked for stays 0; a usage error (unknown option, missing or bad
 * argument) is 2, not commander's 1, which means an invalid trail here.
 */
export function usageExit(error: CommanderError): never {
  process.exit(error.exitCode === 0 ? EXIT.ok : EXIT.usage);
}

/** Prints one line for an error of the API and sets the matching exit code. */
export function reportApiError(error: SeqdApiError, json: boolean): void {
  if (json) console.log(JSON.stringify({ error: { code: error.code, message: error.message, field: error.field, status: error.status, ...error.details } }, null, 2));
  else console.error(`seqd: ${error.code}: ${error.message}`);
  process.exitCode = exitCodeOf(error);
}

/** Prints one line for any other failure (no stack: it is the user's shell) and sets `code`. */
export function reportFailure(message: string, code: number): void {
  console.error(`seqd: ${message}`);
  process.exitCode = code;
}

/**
 * For the commands that open the store themselves (as `serve` does): a configuration refused is
 * 2, a store that refuses or cannot be reached is 3, each with its one-line message. Anything
 * else is rethrown (a defect: its stack helps).
 */
export function reportStoreCommandError(error: unknown): void {
  if (!(error instanceof ConfigError || error instanceof StoreUnavailableError || error instanceof StoreIdentityError)) throw error;
  // The codes of serve's start (see the README).
  reportFailure(error.message, error instanceof ConfigError ? 2 : 3);
}
