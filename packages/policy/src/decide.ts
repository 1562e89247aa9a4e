/**
 * The one place that decides "may this user call this tool now" (DESIGN §2, §5). Every path calls it:
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
 * | 4 | the tool needs an upstream credential and the user has none, or it is not `active` | deny `credential_unavailable` |
 * | 5 | the credential's granted upstream scopes do not cover the tool's | deny `upstream_scope_missing` |
 * | 6 | otherwise                                                        | allow                    |
 *
 * Row 5 "cover": a granted scope covers a needed one when it is the same string or a broader scope
 * of that provider that includes it (`scope-implication.ts`: Gmail `gmail.modify` covers
 * `gmail.readonly`, GitHub `repo` covers `public_repo`, …).
 */

import { missingScopes } from './scope-implication.js';

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
}

export type DenyCode = 'unknown_tool' | 'tool_disabled' | 'insufficient_scope' | 'credential_unavailable' | 'upstream_scope_missing';

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
       * upstream scopes to ask it for (issue 8 §8: the caller turns this into a connect link).
       */
      connect?: { provider: string; scopes: string[] };
    };

const ALLOW: Decision = { allow: true };

export function decideToolCall(q: ToolCallQuestion): Decision {
  const { tool } = q;
  if (!tool) return { allow: false, code: 'unknown_tool', message: 'Unknown tool' };
  if (!q.tenant.enabledTools.includes(tool.name)) return { allow: false, code: 'tool_disabled', message: `Tool ${tool.name} is not enabled for this tenant` };
  if (q.tokenScopes !== undefined && !q.tokenScopes.includes(tool.mcpScope))
    return { allow: false, code: 'insufficient_scope', message: `This tool needs the scope ${tool.mcpScope}`, requiredScope: tool.mcpScope };
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
