import type { FastifyInstance, RouteOptions } from 'fastify';

export interface CatalogedRoute {
  readonly method: string;
  readonly url: string;
  readonly schema: Record<string, unknown> | undefined;
}

const catalogs = new WeakMap<FastifyInstance, CatalogedRoute[]>();

/** Starts recording every route added to `app` from now on (for the API document's test). */
export function recordRoutes(app: FastifyInstance): void {
  const routes: CatalogedRoute[] = [];
  catalogs.set(app, routes);
  app.addHook('onRoute', (r: RouteOptions) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url, schema: r.schema as Record<string, unknown> | undefined });
  });
}

/** The routes recorded on `app` (empty if {@link recordRoutes} was not called). */
export function routeCatalog(app: FastifyInstance): readonly CatalogedRoute[] {
  return catalogs.get(app) ?? [];
}
