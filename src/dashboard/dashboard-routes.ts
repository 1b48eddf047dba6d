import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { LiveHub } from './live-hub.js';
import { doc, hidden, TAGS } from '../http/openapi.js';

/** The page and its assets, shipped in `public/dashboard` (the same path from `src/` and `dist/`). */
const PUBLIC_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'public', 'dashboard');
const require = createRequire(import.meta.url);
const UPLOT_DIR = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));

interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

function load(file: string, type: string): Asset {
  return { body: readFileSync(file), type };
}

/**
 * `GET /dashboard` and its assets, all served by seqd itself (no CDN: many sites have no internet),
 * plus the server-sent event stream the page listens to.
 */
export function dashboardRoutes(app: FastifyInstance, hub: LiveHub): void {
  // A Map, not an object: a file named "valueOf" or "__proto__" must not find a prototype member.
  const assets = new Map<string, Asset>(Object.entries({
    'app.js': load(join(PUBLIC_DIR, 'app.js'), 'text/javascript; charset=utf-8'),
    'app.css': load(join(PUBLIC_DIR, 'app.css'), 'text/css; charset=utf-8'),
    'uPlot.iife.min.js': load(join(UPLOT_DIR, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'),
    'uPlot.min.css': load(join(UPLOT_DIR, 'uPlot.min.css'), 'text/css; charset=utf-8'),
  }));
  const page = load(join(PUBLIC_DIR, 'index.html'), 'text/html; charset=utf-8');

  app.get('/dashboard', { config: { access: 'public' }, schema: hidden('the web dashboard page') }, (_req, reply) => reply.type(page.type).header('cache-control', 'no-cache').send(page.body));
  app.get<{ Params: { file: string } }>('/dashboard/assets/:file', { config: { access: 'public' }, schema: hidden('static files of the dashboard') }, (req, reply) => {
    const asset = assets.get(req.params.file);
    if (!asset) return reply.callNotFound();
    return reply.type(asset.type).header('cache-control', 'no-cache').send(asset.body);
  });
  app.get('/api/v1/dashboard/stream', { schema: doc(TAGS.ops, 'Server-sent events feeding the dashboard (snapshots, demo progress)') }, (req, reply) => {
    reply.hijack();
    hub.attach(reply.raw);
    req.raw.on('close', () => reply.raw.end());
  });
}
