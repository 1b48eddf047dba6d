import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startSeqd, type RunningSeqd, type StartOptions } from '../../src/app.js';
import { loadConfig } from '../../src/config/config-loader.js';

export interface TestServer extends RunningSeqd {
  readonly dataDir: string;
  /** Closes the server and removes its data directory. */
  dispose(): Promise<void>;
}

/** A real seqd on port 0 with a real SQLite file in a fresh temporary directory. */
export async function startTestServer(
  overrides: Record<string, unknown> = {},
  dataDir?: string,
  options: Omit<StartOptions, 'logger'> = {},
): Promise<TestServer> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'seqd-test-'));
  const { config } = loadConfig({
    profile: 'poc',
    env: {},
    port: 0,
    dataDir: dir,
    overrides: { logging: { console: false }, ...overrides },
  });
  const seqd = await startSeqd(config, { ...options, logger: pino({ level: 'silent' }) });
  return {
    ...seqd,
    dataDir: dir,
    close: seqd.close,
    dispose: async () => {
      await seqd.close();
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface JsonReply<T = Record<string, unknown>> {
  readonly status: number;
  readonly body: T;
}

/** A JSON request over real HTTP. */
export async function http<T = Record<string, unknown>>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<JsonReply<T>> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + path, init);
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { raw: text };
  }
  return { status: res.status, body: parsed as T };
}

export interface ErrorBody {
  error: { code: string; message: string; field?: string; allowed?: unknown[] };
}
