import type Router from '@koa/router';
import { buildOpenApiDocument } from '../history/openapi.js';
import type { ApiState } from '../http/state.js';
import type { ApiResources } from '../resources.js';

/** GET /v1/openapi.json: the OpenAPI 3.1 document of the history APIs, built once from their zod schemas. */
export function mountOpenApi(router: Router<ApiState>, r: ApiResources): void {
  let doc: string | undefined;
  router.get('/v1/openapi.json', (ctx) => {
    doc ??= JSON.stringify(buildOpenApiDocument(r.config.PUBLIC_URL));
    ctx.type = 'application/json';
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = doc;
  });
}
