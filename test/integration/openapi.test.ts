import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { routeCatalog } from '../../src/http/route-catalog.js';
import { startTestServer, type TestServer } from '../helpers/seqd-server.js';

interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, { summary?: string; tags?: string[]; requestBody?: unknown; parameters?: unknown[] }>>;
}

describe('OpenAPI document and Swagger UI', () => {
  let s: TestServer;
  let spec: OpenApiDoc;
  before(async () => {
    s = await startTestServer();
    spec = (await (await fetch(`${s.url}/docs/json`)).json()) as OpenApiDoc;
  });
  after(() => s?.dispose());

  it('is a valid OpenAPI 3.1 document', async () => {
    assert.equal(spec.openapi, '3.1.0');
    const result = await new Validator().validate(spec as unknown as Parameters<Validator['validate']>[0]);
    assert.equal(result.valid, true, JSON.stringify(result.errors ?? null, null, 2).slice(0, 2000));
  });

  it('documents every route, or says why a route is left out', () => {
    const problems: string[] = [];
    for (const r of routeCatalog(s.app)) {
      if (r.method === 'HEAD') continue; // fastify adds HEAD for every GET
      if (r.url.startsWith('/docs')) continue; // Swagger UI's own pages and assets
      const schema = r.schema ?? {};
      if (schema.hide === true) {
        if (typeof schema['x-hidden-because'] !== 'string') problems.push(`${r.method} ${r.url}: hidden without a reason`);
        continue;
      }
      const path = r.url.replace(/:([A-Za-z]+)/g, '{$1}');
      const op = spec.paths[path]?.[r.method.toLowerCase()];
      if (!op) problems.push(`${r.method} ${r.url}: not in the document`);
      else if (!op.summary || !op.tags?.length) problems.push(`${r.method} ${r.url}: no summary or tag`);
    }
    assert.deepEqual(problems, []);
    assert.ok(routeCatalog(s.app).length > 25, 'the catalog saw the routes');
  });

  it('carries the input schemas: bodies, queries and enums from the configuration', () => {
    const next = spec.paths['/api/v1/sequence/next'];
    assert.ok(next?.post?.requestBody, 'POST next has a body schema');
    const text = JSON.stringify(next);
    assert.match(text, /"site-1","site-2"/, 'configured sites are the allowed values');
    assert.ok((spec.paths['/api/v1/audit']?.get?.parameters?.length ?? 0) >= 10);
  });

  it('documents what release and confirm answer (200), not only their errors', () => {
    for (const [path, field] of [['/api/v1/sequence/release', 'alreadyReleased'], ['/api/v1/sequence/confirm', 'alreadyConfirmed']] as const) {
      const ok = (spec.paths[path]?.post as { responses?: Record<string, { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> }> } | undefined)?.responses?.['200'];
      const props = ok?.content?.['application/json']?.schema?.properties ?? {};
      assert.ok('status' in props && field in props && 'allocation' in props, `${path}: ${JSON.stringify(ok ?? null).slice(0, 300)}`);
    }
  });

  it('documents the audit events the audit route answers, with who acted', () => {
    const ok = (spec.paths['/api/v1/audit']?.get as { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> } | undefined)?.responses?.['200'];
    const schema = ok?.content?.['application/json']?.schema as { properties?: { events?: { items?: { required?: string[]; properties?: Record<string, { type?: unknown; description?: string }> } } } } | undefined;
    const event = schema?.properties?.events?.items;
    assert.ok(event, JSON.stringify(ok ?? null).slice(0, 500));
    assert.ok(event.required?.includes('actor'));
    assert.deepEqual(event.properties?.actor?.type, ['string', 'null']);
    assert.match(event.properties?.actor?.description ?? '', /API key/);
  });

  it('serves Swagger UI and its assets from this server', async () => {
    const page = await fetch(`${s.url}/docs/`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /swagger-ui/i);
    for (const src of [...html.matchAll(/(?:src|href)="\.?\/?([^"]+\.(?:js|css))"/g)].map((m) => m[1])) {
      assert.ok(!/^https?:/.test(src ?? ''), `asset ${src} would load from elsewhere`);
      const asset = await fetch(new URL(src ?? '', `${s.url}/docs/`));
      assert.equal(asset.status, 200, `asset ${src}`);
    }
  });
});
