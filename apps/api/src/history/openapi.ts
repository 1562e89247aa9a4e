import { createDocument, type ZodOpenApiPathsObject } from 'zod-openapi';
import type { z } from 'zod';
import {
  adminAuditQuery,
  adminCallsQuery,
  auditKeysBody,
  auditPage,
  callIdParam,
  callPage,
  callView,
  errorBody,
  tenantParam,
  userAuditQuery,
  userCallsQuery,
} from './schemas.js';

/**
 * OpenAPI 3.1 for the history and back-office APIs, generated from the zod schemas the routes
 * validate with (schemas.ts). Served at GET /v1/openapi.json.
 */

const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } });
const errors = (codes: string[]) =>
  Object.fromEntries(
    codes.map((c) => [
      c,
      json(
        errorBody,
        {
          '400': 'invalid query parameter: `invalid_query`, or `invalid_cursor` for a cursor the endpoint did not return (the description names it)',
          '401': 'missing, unknown or revoked credential',
          '403': 'the API key lacks the scope',
          '404': 'no such tenant or call',
        }[c] ?? c,
      ),
    ]),
  );

export function buildOpenApiDocument(serverUrl: string) {
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'mcprt history and back-office API',
      version: '1.0.0',
      description: 'Tool-call history and audit trail (docs/audit.md). End-user routes take the MCP access token; /admin routes take a tenant API key.',
    },
    servers: [{ url: serverUrl }],
    components: {
      securitySchemes: {
        userBearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: "the MCP access token of the tenant's user (audience: the tenant's MCP URL)",
        },
        tenantApiKey: { type: 'http', scheme: 'bearer', description: 'a tenant API key, mcprt_ak_… (pnpm cli tenant api-key create)' },
      },
    },
    paths: {
      ...userPaths(),
      ...adminPaths(),
      '/t/{tenant}/v1/audit-keys': {
        get: {
          summary: "The tenant's Ed25519 public keys that sign audit checkpoints (RFC 8037 JWKs)",
          requestParams: { path: tenantParam },
          responses: { '200': json(auditKeysBody, 'the keys'), ...errors(['404']) },
        },
      },
    },
  });
}

const userSec = [{ userBearer: [] }];
const keySec = [{ tenantApiKey: [] }];

/** The end user's routes: their calls (list, one, cancel) and their audit history, with the MCP access token. */
function userPaths(): ZodOpenApiPathsObject {
  return {
    '/t/{tenant}/v1/tool-calls': {
      get: {
        summary:
          "The user's own calls, newest first (keyset pagination): those this token's app made with tools whose scope it carries, or all of them with the scope calls:read",
        security: userSec,
        requestParams: { path: tenantParam, query: userCallsQuery },
        responses: { '200': json(callPage, 'a page of calls'), ...errors(['400', '401', '404']) },
      },
    },
    '/t/{tenant}/v1/tool-calls/{id}': {
      get: {
        summary: "One of the user's own calls, as the list shows them (another user's, or one this token may not see, answers 404 like an unknown id)",
        security: userSec,
        requestParams: { path: callIdParam },
        responses: { '200': json(callView, 'the call'), ...errors(['401', '404']) },
      },
    },
    '/t/{tenant}/v1/tool-calls/{id}/cancel': {
      post: {
        summary:
          "Cancel one of the user's own calls: one this token's app made with the tool's scope, or any with calls:cancel (another user's, or one this token may not see, answers 404 like an unknown id); 409 if it had already finished",
        security: userSec,
        requestParams: { path: callIdParam },
        responses: {
          '200': json(callView, 'the call, now cancelled'),
          '403': json(errorBody, 'insufficient_scope: another app’s call, seen with calls:read, needs calls:cancel to be stopped'),
          '409': json(errorBody, 'the call had already finished'),
          ...errors(['401', '404']),
        },
      },
    },
    '/t/{tenant}/v1/audit-events': {
      get: {
        summary: "The user's own audit history, newest first (needs the scope audit:read)",
        security: userSec,
        requestParams: { path: tenantParam, query: userAuditQuery },
        responses: {
          '200': json(auditPage, 'a page of audit events'),
          '403': json(errorBody, 'insufficient_scope: the token lacks audit:read'),
          ...errors(['400', '401', '404']),
        },
      },
    },
  };
}

/** The back office: every user's calls and audit events, with a tenant API key. */
function adminPaths(): ZodOpenApiPathsObject {
  return {
    '/t/{tenant}/v1/admin/tool-calls': {
      get: {
        summary: "Every user's calls (scope calls:read)",
        security: keySec,
        requestParams: { path: tenantParam, query: adminCallsQuery },
        responses: { '200': json(callPage, 'a page of calls (with userId)'), ...errors(['400', '401', '403', '404']) },
      },
    },
    '/t/{tenant}/v1/admin/tool-calls/{id}': {
      get: {
        summary: 'Any call of the tenant (scope calls:read)',
        security: keySec,
        requestParams: { path: callIdParam },
        responses: { '200': json(callView, 'the call (with userId)'), ...errors(['401', '403', '404']) },
      },
    },
    '/t/{tenant}/v1/admin/tool-calls/{id}/cancel': {
      post: {
        summary: 'Cancel any call of the tenant (scope calls:cancel); 409 with the call if it had already finished',
        security: keySec,
        requestParams: { path: callIdParam },
        responses: {
          '200': json(callView, 'the call, now cancelled (with userId)'),
          '409': json(errorBody, 'the call had already finished'),
          ...errors(['401', '403', '404']),
        },
      },
    },
    '/t/{tenant}/v1/admin/audit-events': {
      get: {
        summary: 'Every audit event (scope audit:read); with Accept: application/x-ndjson, a streamed, verifiable export',
        security: keySec,
        requestParams: { path: tenantParam, query: adminAuditQuery },
        responses: {
          '200': {
            description: 'a page of audit events, or the NDJSON export (docs/audit.md: export, checkpoint, event and end lines)',
            content: { 'application/json': { schema: auditPage }, 'application/x-ndjson': { schema: { type: 'string' } } },
          },
          ...errors(['400', '401', '403', '404']),
        },
      },
    },
  };
}
