/**
 * The one place that decides "may this user call this tool now", and, further down,
 * "may this token see or cancel this call" (`decideCallAccess`, `callListFilter`) and "may it read
 * the audit history" (`decideAuditRead`). Every path calls `decideToolCall`:
 * the MCP `tools/call` handler (with the access token's scopes), and the worker at dequeue (with
 * what is true then: the tenant's tools and the user's credential as stored now). The route-level
 * scope check in the API is only a fast path that turns an `insufficient_scope` decision into the
 * HTTP 403 step-up challenge; it calls this same function.
 *
 * Plain data in, a decision out: no I/O, so each caller loads what it has and the table below is the
 * whole policy.
 *
 * | # | condition (first match wins)                                     | decision                 |
 * |---|------------------------------------------------------------------|--------------------------|
 * | 1 | the deployment has no such tool                                  | deny `unknown_tool`      |
 * | 2 | the tenant has not enabled the tool                              | deny `tool_disabled`     |
 * | 3 | token scopes known (API) and the tool's MCP scope is not in them | deny `insufficient_scope`|
 * | 4 | the tool needs an upstream credential and the caller is a service principal (a machine client: no person, no upstream account) | deny `principal_has_no_upstream_account` |
 * | 4b | the tool needs an upstream credential and the user has none, or it is not `active` | deny `credential_unavailable` |
 * | 5 | the credential's granted upstream scopes do not cover the tool's | deny `upstream_scope_missing` |
 * | 6 | otherwise                                                        | allow                    |
 *
 * Row 5 "cover": a granted scope covers a needed one when it is the same string or a broader scope
 * of that provider that includes it (`scopes.ts`: Gmail `gmail.modify` covers
 * `gmail.readonly`, GitHub `repo` covers `public_repo`, …).
 */

import type { PrincipalKind } from './principal.js';
import { AUDIT_READ, CALLS_CANCEL, CALLS_READ, missingScopes } from './scopes.js';

export interface PolicyTool {
  name: string;
  /** Scope the MCP access token must carry. */
  mcpScope: string;
  /** Upstream credential the tool runs with, and the upstream scopes it needs. */
  upstream?: { provider: string; scopes: readonly string[] } | undefined;
}

export interface PolicyCredential {
  provider: string;
  status: string;
  scopes: readonly string[];
}

export interface ToolCallQuestion {
  tenant: { enabledTools: readonly string[] };
  /** The tool as the deployment's registry knows it; undefined if it has none of that name. */
  tool: PolicyTool | undefined;
  /** Scopes of the verified MCP access token. Undefined where the token is not known (the worker). */
  tokenScopes: readonly string[] | undefined;
  /** The user's stored credential for the tool's upstream provider (null: none). Ignored for tools without upstream. */
  credential: PolicyCredential | null | undefined;
  /** Who calls: a person (default) or a service principal (`principal.ts`), which never has an upstream account. */
  principal?: PrincipalKind | undefined;
}

export type DenyCode =
  | 'unknown_tool'
  | 'tool_disabled'
  | 'insufficient_scope'
  | 'principal_has_no_upstream_account'
  | 'credential_unavailable'
  | 'upstream_scope_missing';

export type Decision =
  | { allow: true }
  | {
      allow: false;
      code: DenyCode;
      /** Safe to show the user. */
      message: string;
      /** For `insufficient_scope`: the MCP scope to ask for. */
      requiredScope?: string;
      /**
       * For `credential_unavailable` / `upstream_scope_missing`: the provider to (re)connect and the
       * upstream scopes to ask it for (the caller turns this into a connect link).
       */
      connect?: { provider: string; scopes: string[] };
    };

const ALLOW: Decision = { allow: true };

/**
 * Rows 1–3 of the table: may this token reach the tool at all (it exists, the tenant enabled it, the
 * token carries its scope)? What the route's step-up check, the early "unknown tool" answer and
 * `tools/list` need: none of them knows the user's credential, and none should.
 */
export function decideToolReach(q: Pick<ToolCallQuestion, 'tenant' | 'tool' | 'tokenScopes' | 'principal'>): Decision {
  const { tool } = q;
  if (!tool) return { allow: false, code: 'unknown_tool', message: 'Unknown tool' };
  if (!q.tenant.enabledTools.includes(tool.name)) return { allow: false, code: 'tool_disabled', message: `Tool ${tool.name} is not enabled for this tenant` };
  if (q.tokenScopes !== undefined && !q.tokenScopes.includes(tool.mcpScope))
    return { allow: false, code: 'insufficient_scope', message: `This tool needs the scope ${tool.mcpScope}`, requiredScope: tool.mcpScope };
  if (tool.upstream && q.principal === 'service')
    return {
      allow: false,
      code: 'principal_has_no_upstream_account',
      message: `${tool.name} runs with a person's ${tool.upstream.provider} account; a machine client has none, so it cannot call this tool.`,
    };
  return ALLOW;
}

export function decideToolCall(q: ToolCallQuestion): Decision {
  const reach = decideToolReach(q);
  if (!reach.allow || !q.tool) return reach;
  const { tool } = q;
  if (tool.upstream) {
    const c = q.credential;
    if (!c || c.provider !== tool.upstream.provider || c.status !== 'active') {
      const why = c && c.provider === tool.upstream.provider ? `needs reconnecting (${c.status})` : 'is not connected';
      return {
        allow: false,
        code: 'credential_unavailable',
        message: `Your ${tool.upstream.provider} account ${why}; sign in again to use ${tool.name}.`,
        connect: { provider: tool.upstream.provider, scopes: [...tool.upstream.scopes] },
      };
    }
    const missing = missingScopes(c.provider, c.scopes, tool.upstream.scopes);
    if (missing.length > 0)
      return {
        allow: false,
        code: 'upstream_scope_missing',
        message: `Your ${tool.upstream.provider} account did not grant ${missing.join(', ')}; sign in again and allow it to use ${tool.name}.`,
        connect: { provider: tool.upstream.provider, scopes: missing },
      };
  }
  return ALLOW;
}

/** The tenant setting: `allowed` lists only what the token may call; `all_with_hints` lists the rest too, each with its hint. */
export const TOOL_LISTING_MODES = ['allowed', 'all_with_hints'] as const;
export type ToolListingMode = (typeof TOOL_LISTING_MODES)[number];

/** A tool `tools/list` shows; `locked` when the token may not call it yet: the scope a new sign-in would grant. */
export interface ListedTool<T extends PolicyTool> {
  tool: T;
  locked?: { requiredScope: string; message: string };
}

/**
 * What `tools/list` shows this token: the tools `decideToolReach` lets it call, in the registry's
 * order, so the list and `tools/call` cannot disagree. Tools the tenant has not enabled never show;
 * with `all_with_hints`, a tool the token lacks the scope for shows locked (its scope named), so a
 * client can offer to sign in again. A missing upstream credential does not hide a tool: calling it
 * is how the user is offered the connect link.
 */
export function toolsToList<T extends PolicyTool>(q: {
  tenant: { enabledTools: readonly string[]; toolListing: ToolListingMode };
  tools: readonly T[];
  tokenScopes: readonly string[];
  /** A service principal is never shown a tool it can never call (one that runs with a person's upstream account). */
  principal?: PrincipalKind | undefined;
}): ListedTool<T>[] {
  const listed: ListedTool<T>[] = [];
  for (const tool of q.tools) {
    const d = decideToolReach({ tenant: q.tenant, tool, tokenScopes: q.tokenScopes, principal: q.principal });
    if (d.allow) listed.push({ tool });
    else if (d.code === 'insufficient_scope' && q.tenant.toolListing === 'all_with_hints')
      listed.push({ tool, locked: { requiredScope: tool.mcpScope, message: `Sign in again and allow the scope ${tool.mcpScope} to use this tool.` } });
  }
  return listed;
}

/** What the call rules need of the verified MCP access token. */
export interface CallReader {
  scopes: readonly string[];
  /** The OAuth client the token was issued to (`client_id`, else `azp`); undefined if it names none. */
  clientId: string | undefined;
}

export interface CallAccessQuestion {
  token: CallReader;
  action: 'read' | 'cancel';
  /** One of the token user's own calls (the caller has matched tenant and user already). */
  call: { tool: string; clientId: string | null };
  /** The MCP scope of the call's tool; undefined if this deployment no longer has the tool. */
  toolScope: string | undefined;
}

export type CallAccessDecision =
  | { allow: true }
  /** Answer exactly as for a call that does not exist (REST 404, unknown task, the same tool_call_result text). */
  | { allow: false; code: 'not_found' }
  /** The token may see the call but not stop it: the scope to ask for. */
  | { allow: false; code: 'insufficient_scope'; requiredScope: string; message: string };

const ALLOWED = { allow: true } as const;
const NOT_FOUND: CallAccessDecision = { allow: false, code: 'not_found' };

/** The app that made the call, still allowed its tool: a call recorded without a client (before clients were recorded) is nobody's app. */
const ownCall = (q: Pick<CallAccessQuestion, 'token' | 'call' | 'toolScope'>) =>
  q.call.clientId !== null &&
  q.token.clientId !== undefined &&
  q.call.clientId === q.token.clientId &&
  q.toolScope !== undefined &&
  q.token.scopes.includes(q.toolScope);

const readsOthers = (t: CallReader) => t.scopes.includes(CALLS_READ) || t.scopes.includes(CALLS_CANCEL);

/**
 * May this user token see (REST list and get, `tool_call_result`, `tasks/get|update`, the wait for
 * a replayed idempotent call) or cancel (REST cancel, `tasks/cancel`, `notifications/cancelled`, a
 * closed request stream) one of its user's calls? First match wins:
 *
 * | # | condition                                                                     | read  | cancel |
 * |---|-------------------------------------------------------------------------------|-------|--------|
 * | 1 | same OAuth client as the call's, and the token carries the call's tool scope  | allow | allow  |
 * | 2 | the token carries `calls:cancel` (stop other apps' calls; includes seeing them)| allow | allow  |
 * | 3 | the token carries `calls:read`                                                | allow | `insufficient_scope` `calls:cancel` |
 * | 4 | otherwise (another app's call, a tool scope not granted, an empty scope, a call recorded without a client) | `not_found` | `not_found` |
 *
 * Seeing a call shows its arguments and result, so `calls:cancel` includes `calls:read` (a cancel
 * answers with the call). A refused read is `not_found`: the caller answers exactly as for an id
 * that never existed, so ids cannot be probed. `callListFilter` is the same rule for lists.
 */
export function decideCallAccess(q: CallAccessQuestion): CallAccessDecision {
  if (ownCall(q) || q.token.scopes.includes(CALLS_CANCEL)) return ALLOWED;
  if (!q.token.scopes.includes(CALLS_READ)) return NOT_FOUND;
  if (q.action === 'read') return ALLOWED;
  return {
    allow: false,
    code: 'insufficient_scope',
    requiredScope: CALLS_CANCEL,
    message: `Stopping a call another app made needs the scope ${CALLS_CANCEL}`,
  };
}

/**
 * `decideCallAccess(read)` for a list, as a filter the list statement applies in SQL (so paging
 * counts only visible rows): every call of the user, or those made by one client with one of the
 * given tools (the tools whose scope the token carries). `tools: []` shows nothing.
 */
export type CallListFilter = { all: true } | { all: false; clientId: string | null; tools: string[] };

export function callListFilter(token: CallReader, tools: readonly Pick<PolicyTool, 'name' | 'mcpScope'>[]): CallListFilter {
  if (readsOthers(token)) return { all: true };
  if (token.clientId === undefined) return { all: false, clientId: null, tools: [] };
  return { all: false, clientId: token.clientId, tools: tools.filter((t) => token.scopes.includes(t.mcpScope)).map((t) => t.name) };
}

export type AuditReadDecision = { allow: true } | { allow: false; code: 'insufficient_scope'; requiredScope: string; message: string };

/**
 * May this user token read its user's audit history (`GET /t/{slug}/v1/audit-events`)? Only with
 * `audit:read`: the history covers the whole account (sign-ins, consents, every app's calls and
 * refusals), so no app sees any of it without the user's explicit grant.
 */
export function decideAuditRead(token: Pick<CallReader, 'scopes'>): AuditReadDecision {
  if (token.scopes.includes(AUDIT_READ)) return ALLOWED;
  return { allow: false, code: 'insufficient_scope', requiredScope: AUDIT_READ, message: `Reading the audit history needs the scope ${AUDIT_READ}` };
}
