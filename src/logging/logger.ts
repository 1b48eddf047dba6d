import { mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type Logger } from 'pino';
import { humanConsole } from './console-format.js';

export interface LoggerOptions {
  readonly level: string;
  /** Log file (its folder is created); null for console only. */
  readonly file: string | null;
  readonly console: boolean;
  /** Console lines: readable text (default) or the JSON of the log file. */
  readonly consoleFormat?: 'text' | 'json';
}

/** One logger for the process: readable (or JSON) lines on the console, JSON lines in the log file. */
export function createLogger(o: LoggerOptions): Logger {
  const streams: pino.StreamEntry[] = [];
  if (o.console) streams.push({ level: o.level as pino.Level, stream: o.consoleFormat === 'json' ? pino.destination({ dest: 1, sync: false }) : humanConsole() });
  if (o.file) {
    mkdirSync(dirname(o.file), { recursive: true });
    // Opened here, synchronously: a destination still opening when the process exits (a failed
    // start) throws "sonic boom is not ready yet" over the real error.
    streams.push({ level: o.level as pino.Level, stream: pino.destination({ dest: openSync(o.file, 'a'), sync: false }) });
  }
  return pino({ level: o.level, base: { pid: process.pid } }, pino.multistream(streams));
}
