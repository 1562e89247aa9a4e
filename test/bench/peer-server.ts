/**
 * The benchmark's peer: what a user would run instead of this runtime. A stateless MCP server on the
 * official SDK v2 (the release the API uses), written the way the SDK's own documentation and
 * examples show it ("Serve over HTTP", "Require authorization", the `bearer-auth-web` example):
 *
 * - `createMcpHandler` with a factory that builds a fresh `McpServer` per request, registering an
 *   `echo` tool with a zod input schema (and an output schema: `structuredContent`, as the runtime's
 *   echo answers); the tool runs inline, in the request. Both protocol eras are served from the same
 *   factory: 2026-07-28 per request, 2025-era clients statelessly (the handler's default posture).
 * - `requireBearerAuth` from `@modelcontextprotocol/server` in front of it, with a verifier that
 *   checks the bearer JWT on every request with jose: ES256 signature, issuer, audience, expiry.
 * - The Host/Origin guards the docs put in front of a loopback `node:http` server, and
 *   `toNodeHandler` from `@modelcontextprotocol/node` bridging onto `node:http`.
 *
 * Nothing is tuned up or down: the handler's defaults throughout. Its own OS process (the bench
 * spawns it like the API): `node --import tsx test/bench/peer-server.ts`, configured by
 *   PEER_PORT      port on 127.0.0.1 (0: any free one)
 *   PEER_ISSUER    the `iss` its tokens must carry
 *   PEER_AUDIENCE  the `aud` its tokens must carry (its own MCP URL)
 *   PEER_JWKS      the issuer's public key set (JSON), the one its tokens must be signed with
 * and prints `peer listening on <url>` when ready.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { toNodeHandler } from '@modelcontextprotocol/node';
import type { AuthInfo, McpServerFactory, OAuthTokenVerifier } from '@modelcontextprotocol/server';
import {
  createMcpHandler,
  hostHeaderValidationResponse,
  localhostAllowedHostnames,
  localhostAllowedOrigins,
  McpServer,
  OAuthError,
  OAuthErrorCode,
  originValidationResponse,
  requireBearerAuth,
} from '@modelcontextprotocol/server';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import * as z from 'zod/v4';

const required = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};
const issuer = required('PEER_ISSUER');
const audience = required('PEER_AUDIENCE');
const jwks = createLocalJWKSet(JSON.parse(required('PEER_JWKS')) as JSONWebKeySet);

const buildServer: McpServerFactory = () => {
  const server = new McpServer({ name: 'bench-peer', version: '1.0.0' });
  server.registerTool(
    'echo',
    {
      description: 'Returns the message',
      inputSchema: z.object({ message: z.string().max(10_000) }),
      outputSchema: z.object({ message: z.string() }),
    },
    async ({ message }) => {
      const output = { message };
      return { content: [{ type: 'text', text: JSON.stringify(output) }], structuredContent: output };
    },
  );
  return server;
};

const verifier: OAuthTokenVerifier = {
  async verifyAccessToken(token): Promise<AuthInfo> {
    try {
      const { payload } = await jwtVerify(token, jwks, { issuer, audience, algorithms: ['ES256'] });
      return {
        token,
        clientId: typeof payload.client_id === 'string' ? payload.client_id : String(payload.sub),
        scopes: typeof payload.scope === 'string' ? payload.scope.split(' ') : [],
        ...(payload.exp !== undefined ? { expiresAt: payload.exp } : {}),
      };
    } catch (e) {
      throw new OAuthError(OAuthErrorCode.InvalidToken, e instanceof Error ? e.message : 'invalid token');
    }
  },
};

const gate = requireBearerAuth({ verifier, requiredScopes: ['mcp'] });
const handler = createMcpHandler(buildServer);

async function fetchHandler(request: Request): Promise<Response> {
  const rejected = hostHeaderValidationResponse(request, localhostAllowedHostnames()) ?? originValidationResponse(request, localhostAllowedOrigins());
  if (rejected) return rejected;
  const auth = await gate(request);
  if (auth instanceof Response) return auth;
  return handler.fetch(request, { authInfo: auth });
}

const server = createServer(toNodeHandler({ fetch: fetchHandler }));
server.listen(Number(process.env.PEER_PORT ?? 0), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`peer listening on http://127.0.0.1:${port}/mcp\n`);
});
process.on('SIGTERM', () => {
  void handler.close().finally(() => server.close(() => process.exit(0)));
});
