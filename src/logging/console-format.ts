import { Writable } from 'node:stream';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/**
 * Console stream for people: `HH:MM:SS LEVEL message` from pino's JSON lines (the log file keeps
 * the JSON). Lines that are not JSON pass through unchanged.
 */
export function humanConsole(out: NodeJS.WritableStream = process.stdout): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        try {
          const rec = JSON.parse(line) as { time?: number; level?: number; msg?: string; err?: { message?: string } };
          const time = new Date(rec.time ?? Date.now()).toISOString().slice(11, 19);
          const err = rec.err?.message ? ` (${rec.err.message})` : '';
          out.write(`${time} ${(LEVELS[rec.level ?? 30] ?? 'INFO').padEnd(5)} ${rec.msg ?? ''}${err}\n`);
        } catch {
          out.write(`${line}\n`);
        }
      }
      done();
    },
  });
}
