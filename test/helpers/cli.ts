import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seqdCommand } from './seqd-command.js';
import { promisify } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const exec = promisify(execFile);

/** The real CLI from source (`SEQD_URL` unset, so only `--url` counts): stdout, stderr and the exit code. */
export async function runCli(args: readonly string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await exec(process.execPath, [...seqdCommand(), ...args], { cwd: ROOT, env: { ...process.env, SEQD_URL: '' } });
    return { ...r, code: 0 };
  } catch (error) {
    const e = error as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}
