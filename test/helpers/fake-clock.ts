import { existsSync, renameSync, writeFileSync } from 'node:fs';

/** Where Debian's libfaketime lives (package faketime); the multi-threaded build, for Node. */
const LIBS = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1'];

/** Why a clock cannot be faked here (libfaketime missing), or null. */
export function fakeClockMissing(): string | null {
  return LIBS.some((l) => existsSync(l)) ? null : 'libfaketime is not installed (Debian package faketime)';
}

/**
 * Environment for a child process whose wall clock runs `offsetMs` ahead (negative: behind) of
 * this machine's, through libfaketime (monotonic time is left alone, so timers behave).
 */
export function fakeClockEnv(offsetMs: number): Record<string, string> {
  const lib = LIBS.find((l) => existsSync(l));
  if (!lib) throw new Error(fakeClockMissing() ?? 'libfaketime missing');
  const s = offsetMs / 1000;
  return { LD_PRELOAD: lib, FAKETIME: `${s >= 0 ? '+' : ''}${s.toFixed(3)}`, FAKETIME_DONT_FAKE_MONOTONIC: '1' };
}

/**
 * Environment for a child process whose wall clock is set from `file` on every read (libfaketime
 * with its cache off): {@link setClockFile} then moves that clock back or forward while it runs.
 */
export function jumpingClockEnv(file: string): Record<string, string> {
  const lib = LIBS.find((l) => existsSync(l));
  if (!lib) throw new Error(fakeClockMissing() ?? 'libfaketime missing');
  return { LD_PRELOAD: lib, FAKETIME_TIMESTAMP_FILE: file, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' };
}

/** Sets the clock of processes started with {@link jumpingClockEnv}: it reads `atMs` now, then runs on. */
export function setClockFile(file: string, atMs: number): void {
  const s = (atMs - Date.now()) / 1000;
  writeFileSync(`${file}.tmp`, `${s >= 0 ? '+' : ''}${s.toFixed(3)}\n`);
  // Renamed into place: a process reading the file never sees it half written.
  renameSync(`${file}.tmp`, file);
}
