import { buildOpenApiDocument } from '../history/openapi.js';
import type { Chains, Routes } from '../http/tenant-router.js';

/** GET /v1/openapi.json: the OpenAPI 3.1 document of the history APIs, built once from their zod schemas. */
export function mountOpenApi(routes: Routes, chains: Chains, d: { publicUrl: string }): void {
  let doc: string | undefined;
  routes.get('/v1/openapi.json', chains.open, (ctx) => {
    doc ??= JSON.stringify(buildOpenApiDocument(d.publicUrl));
    ctx.type = 'application/json';
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = doc;
  });
}
