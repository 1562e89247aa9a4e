import type { IncomingMessage, ServerResponse } from 'node:http';

import type { AccountDirectory } from './accounts.js';
import { BodyTooLargeError, readBody, sendJson } from './http-json.js';
import { parseMintRequest } from './mint-request.js';
import type { TokenMinter } from './token-minter.js';

export const DEV_MINT_PATH = '/dev/mint';

const invalidRequest = (res: ServerResponse, status: number, description: string): void =>
  sendJson(res, status, { error: 'invalid_request', error_description: description });

/**
 * `POST /dev/mint {sub, audience, scope, upstream_scope?}` →
 * `{access_token, token_type, upstream: {access_token, refresh_token?, expires_at, scope}}`.
 * Lets a CLI in another process get tokens from a running dev IdP; it exists only on this server.
 */
export async function handleDevMint(req: IncomingMessage, res: ServerResponse, deps: { minter: TokenMinter; accounts: AccountDirectory }): Promise<void> {
  if (req.method !== 'POST') {
    sendJson(res, 405, { error: 'invalid_request', error_description: 'use POST' }, { allow: 'POST' });
    return;
  }
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
    invalidRequest(res, 415, 'content-type must be application/json');
    return;
  }

  let decoded: unknown;
  try {
    decoded = JSON.parse(await readBody(req));
  } catch (err) {
    if (err instanceof BodyTooLargeError) invalidRequest(res, 413, err.message);
    else invalidRequest(res, 400, 'body is not valid JSON');
    return;
  }

  const parsed = parseMintRequest(decoded, deps.accounts);
  if (!parsed.ok) {
    invalidRequest(res, 400, parsed.message);
    return;
  }

  const { sub, audience, scope, upstreamScope } = parsed.value;
  const [accessToken, upstream] = await Promise.all([
    deps.minter.mintAccessToken({ sub, audience, scope }),
    deps.minter.mintUpstreamToken({ sub, scope: upstreamScope }),
  ]);
  sendJson(res, 200, {
    access_token: accessToken,
    token_type: 'Bearer',
    upstream: {
      access_token: upstream.accessToken,
      refresh_token: upstream.refreshToken,
      expires_at: upstream.expiresAt.toISOString(),
      scope: upstream.scope,
    },
  });
}
