import type * as oidc from 'openid-client';

/**
 * GitHub's token endpoint answers its errors (`bad_verification_code`, `bad_refresh_token`,
 * `incorrect_client_credentials`, …) with HTTP **200** and an `error` member (GitHub's "Troubleshooting
 * OAuth app access token request errors"). OAuth says 400 (RFC 6749 §5.2), and openid-client only reads
 * an error body from an error status. This adapter, for GitHub-kind providers only, turns such a 200
 * into the 400 it means, so the library raises a `ResponseBodyError` with GitHub's own code.
 */
export function githubTokenErrors(fetch: oidc.CustomFetch): oidc.CustomFetch {
  return async (url, options) => {
    const res = await fetch(url, options);
    if (res.status !== 200 || !new URL(url).pathname.endsWith('/login/oauth/access_token')) return res;
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const isError = typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string';
    return new Response(text, { status: isError ? 400 : 200, headers: res.headers });
  };
}
