import { errors } from 'oidc-provider';
import type { KoaContextWithOIDC, ResourceServer } from 'oidc-provider';

/**
 * What the dev IdP says about a resource server (RFC 8707 resource indicator): tokens for it are
 * JWTs whose `aud` is the resource itself. `accessTokenFormat: 'jwt'` is the only thing that makes
 * oidc-provider issue a JWT rather than an opaque, stored token.
 */
export function describeResourceServer(audience: string, scope: string, accessTokenTTL: number): ResourceServer {
  return { audience, scope, accessTokenFormat: 'jwt', accessTokenTTL };
}

/**
 * Access tokens the minter wants issued with more than one `aud` (see `extraAudiences`). The JWT
 * customizer in the provider configuration reads it; only minted tokens are ever in it.
 */
export const EXTRA_AUDIENCES = new WeakMap<object, readonly string[]>();

/** `formats.customizers.jwt`: appends a minted token's extra audiences to its `aud`. */
export function addExtraAudiences(_ctx: unknown, token: object, jwt: { payload: Record<string, unknown> }): void {
  const extra = EXTRA_AUDIENCES.get(token);
  if (extra) jwt.payload['aud'] = [jwt.payload['aud'], ...extra];
}

export function isHttpUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const { protocol } = new URL(value);
  return protocol === 'http:' || protocol === 'https:';
}

/**
 * `features.resourceIndicators.getResourceServerInfo` for flows through the real endpoints: any
 * absolute http(s) URL is a resource server, and it accepts whatever scope the request asks for
 * (the grant still limits what a token gets). A production IdP would allow-list resources per client.
 */
export function getResourceServerInfoFor(accessTokenTTL: number) {
  return (ctx: KoaContextWithOIDC, resourceIndicator: string): ResourceServer => {
    if (!isHttpUrl(resourceIndicator)) {
      throw new errors.InvalidTarget('resource must be an absolute http(s) URL');
    }
    const requested = ctx.oidc.params?.['scope'];
    return describeResourceServer(resourceIndicator, typeof requested === 'string' ? requested : '', accessTokenTTL);
  };
}
