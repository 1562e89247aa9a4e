import type { AccountDirectory } from './accounts.js';
import { isHttpUrl } from './resource-server.js';
import { isScopeString } from '@mcprt/policy';

/** The body of `POST /dev/mint`. */
export interface MintRequest {
  sub: string;
  audience: string;
  scope: string;
  upstreamScope: string;
}

export const DEFAULT_UPSTREAM_SCOPE = 'openid email profile';

const ALLOWED_KEYS = new Set(['sub', 'audience', 'scope', 'upstream_scope']);

export type ParseResult = { ok: true; value: MintRequest } | { ok: false; message: string };

/** Checks a decoded JSON body; every failure is the caller's fault (400). */
export function parseMintRequest(body: unknown, accounts: AccountDirectory): ParseResult {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { ok: false, message: 'body must be a JSON object' };
  }
  const fields = body as Record<string, unknown>;
  const unknownKeys = Object.keys(fields).filter((key) => !ALLOWED_KEYS.has(key));
  if (unknownKeys.length) return { ok: false, message: `unknown fields: ${unknownKeys.join(', ')}` };

  const { sub, audience, scope } = fields;
  const upstreamScope = fields['upstream_scope'] ?? DEFAULT_UPSTREAM_SCOPE;
  if (typeof sub !== 'string' || !sub) return { ok: false, message: 'sub must be a non-empty string' };
  if (!accounts.has(sub)) return { ok: false, message: `unknown sub: ${JSON.stringify(sub)}` };
  if (typeof audience !== 'string' || !isHttpUrl(audience)) {
    return { ok: false, message: 'audience must be an absolute http(s) URL' };
  }
  if (typeof scope !== 'string' || !isScopeString(scope, { allowEmpty: true })) {
    return { ok: false, message: 'scope must be a space-separated scope string' };
  }
  if (typeof upstreamScope !== 'string' || !isScopeString(upstreamScope, { allowEmpty: true })) {
    return { ok: false, message: 'upstream_scope must be a space-separated scope string' };
  }
  return { ok: true, value: { sub, audience, scope, upstreamScope } };
}
