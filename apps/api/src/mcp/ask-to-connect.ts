import { randomUUID } from 'node:crypto';
import {
  CLIENT_CAPABILITIES_META_KEY,
  inputRequired,
  UrlElicitationRequiredError,
  type CallToolResult,
  type ClientCapabilities,
  type InputRequiredResult,
  type ProtocolEra,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { connectLinkOf, type ConnectLink } from '@mcprt/calls';
import type { AnyTool } from '@mcprt/tools';
import type { ApiResources } from '../resources.js';
import { legacyTakesUrlElicitation } from './client-capabilities.js';
import type { RequestIdentity } from './request-identity.js';

/** The connect link the worker put in a failed call's error details (process-call.ts), if any. */
export function connectOfError(details: Record<string, unknown> | undefined): ConnectLink | undefined {
  const c = details?.connect as Partial<ConnectLink> | undefined;
  return c && typeof c.url === 'string' && typeof c.provider === 'string' && Array.isArray(c.scopes)
    ? { url: c.url, provider: c.provider, scopes: c.scopes.map(String) }
    : undefined;
}

/** A connect link for a call that failed because the provider refused its refresh token (details carry the provider). */
export function reauthLink(r: ApiResources, who: RequestIdentity, tool: AnyTool, details: Record<string, unknown> | undefined): ConnectLink | undefined {
  const provider = details?.provider;
  if (typeof details?.reconnectUrl !== 'string' || typeof provider !== 'string' || tool.upstream?.provider !== provider) return undefined;
  return connectLinkOf(r, who.tenant, who.user.id, { provider, scopes: tool.upstream.scopes });
}

/**
 * A connect link for a call the provider itself refused for a missing scope (the upstream client's 403,
 * packages/tools/src/upstream.ts: details carry the provider and the scopes it named), made for this user.
 */
export function upgradeLink(r: ApiResources, who: RequestIdentity, details: Record<string, unknown> | undefined): ConnectLink | undefined {
  const provider = details?.provider;
  const scopes = details?.scopes;
  if (typeof details?.upgradeUrl !== 'string' || typeof provider !== 'string' || !Array.isArray(scopes)) return undefined;
  return connectLinkOf(r, who.tenant, who.user.id, { provider, scopes: scopes.map(String) });
}

/**
 * A call that needs the user to connect a provider or grant it more scopes answers with
 * the connect link, in the shape the client's protocol era and capabilities allow:
 *
 * - 2026-07-28, the request's client capabilities declare `elicitation.url`: an `input_required`
 *   result with one URL-mode `elicitation/create` (the SDK's multi-round-trip flow); the client opens
 *   the link, answers, and retries the call. A retry that still fails (declined, not finished) gets the
 *   tool error below instead of asking again.
 * - 2025-11-25, the client declared `elicitation.url` at `initialize`: JSON-RPC error -32042
 *   (URLElicitationRequiredError) with the elicitation; the client opens the link and calls again.
 * - otherwise: a tool error (`isError`) whose text and `_meta` carry the link.
 */
export async function askToConnect(
  r: ApiResources,
  who: RequestIdentity,
  era: ProtocolEra,
  ctx: ServerContext,
  link: ConnectLink,
  message: string,
  code: string,
): Promise<CallToolResult | InputRequiredResult> {
  const key = `connect_${link.provider}`;
  const text = message.includes(link.url) ? message : `${message} Connect at ${link.url}`;
  if (era !== 'legacy') {
    // The SDK types the envelope opaquely; it has validated it against the revision's schema.
    const caps = (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[CLIENT_CAPABILITIES_META_KEY] as ClientCapabilities | undefined;
    if (caps?.elicitation?.url && ctx.mcpReq.inputResponses?.[key] === undefined)
      return inputRequired({ inputRequests: { [key]: inputRequired.elicitUrl({ message: text, url: link.url }) } });
  } else if (await legacyTakesUrlElicitation(r, who)) {
    throw new UrlElicitationRequiredError([{ mode: 'url', elicitationId: randomUUID(), url: link.url, message: text }], text);
  }
  return {
    content: [{ type: 'text', text }],
    isError: true,
    _meta: { 'io.mcprt/error': { code, connect: link } },
  };
}
