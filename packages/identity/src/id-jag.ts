import type { EnterpriseIdp } from '@mcprt/db';
import { parseScopes } from '@mcprt/policy';
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';

/**
 * Identity Assertion JWT Authorization Grants (ID-JAG, the MCP enterprise-managed-authorization
 * extension): an enterprise IdP the tenant trusts issues, by RFC 8693 token exchange, a JWT that the
 * tenant's authorization server redeems with the RFC 7523 `jwt-bearer` grant. This module is the
 * check of one ID-JAG; the grant (replay, user, token) is the authorization server's.
 */
export const ID_JAG_TYP = 'oauth-id-jag+jwt';
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

const httpsOrHttpUrl = z
  .url({ protocol: /^https?$/ })
  .max(500)
  .refine((u) => !/[?#]/.test(u), 'no query or fragment');

/** A trusted enterprise IdP as the tenant row stores it (`tenant trust-idp`). */
export const enterpriseIdpSchema = z.object({
  issuer: httpsOrHttpUrl,
  jwksUri: httpsOrHttpUrl,
  clientIds: z.array(z.string().min(1).max(300)).min(1).max(50),
});

export interface IdJagExpectation {
  /** The tenant's trusted IdPs (others' ID-JAGs are refused). */
  trusted: readonly EnterpriseIdp[];
  /** This authorization server's issuer: the ID-JAG's `aud`. */
  audience: string;
  /** The tenant's MCP URL: the ID-JAG's `resource`. */
  resource: string;
  /** The client that authenticated at the token endpoint: the ID-JAG's `client_id`. */
  clientId: string;
}

export interface VerifiedIdJag {
  idp: EnterpriseIdp;
  subject: string;
  email: string | undefined;
  jti: string;
  expiresAt: number;
  /** The ID-JAG's `scope` claim; undefined if it has none. */
  scopes: string[] | undefined;
}

/** Why an ID-JAG is refused (the grant answers `invalid_grant` with this message; nothing secret in it). */
export class IdJagRefused extends Error {}

const ALGORITHMS = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'];
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** An ID-JAG is short-lived (minutes): one issued longer ago than this is refused whatever its `exp`. */
const MAX_AGE_SECONDS = 600;

/**
 * The checks of one ID-JAG, cheap ones first (no key fetched for a token that names an untrusted
 * issuer or the wrong client): compact JWS, header `typ` = `oauth-id-jag+jwt`, `iss` a trusted IdP,
 * `client_id` = the authenticated client and one that IdP may serve; then the signature against
 * that IdP's keys, `aud` = this authorization server, `exp`, `iat` (not in the future, not older than
 * 10 minutes), and `resource` = the tenant's MCP URL.
 */
export async function verifyIdJag(
  assertion: string,
  expected: IdJagExpectation,
  keysOf: (idp: EnterpriseIdp) => Promise<JWTVerifyGetKey>,
): Promise<VerifiedIdJag> {
  if (assertion.length > 16_384 || !JWS_COMPACT.test(assertion)) throw new IdJagRefused('assertion is not a compact JWT');
  let header: ReturnType<typeof decodeProtectedHeader>;
  let unverified: JWTPayload;
  try {
    header = decodeProtectedHeader(assertion);
    unverified = decodeJwt(assertion);
  } catch {
    throw new IdJagRefused('assertion is not a JWT');
  }
  if (typeof header.typ !== 'string' || !/^(application\/)?oauth-id-jag\+jwt$/i.test(header.typ)) throw new IdJagRefused(`assertion typ must be ${ID_JAG_TYP}`);
  const idp = expected.trusted.find((t) => t.issuer === unverified.iss);
  if (!idp) throw new IdJagRefused('assertion issuer is not trusted by this tenant');
  if (unverified.client_id !== expected.clientId) throw new IdJagRefused('assertion client_id is not the authenticated client');
  if (!idp.clientIds.includes(expected.clientId)) throw new IdJagRefused('this client may not redeem assertions of this issuer');
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(assertion, await keysOf(idp), {
      issuer: idp.issuer,
      audience: expected.audience,
      algorithms: ALGORITHMS,
      requiredClaims: ['exp', 'iat', 'jti', 'sub'],
      maxTokenAge: MAX_AGE_SECONDS,
      clockTolerance: 5,
    }));
  } catch (e) {
    if (e instanceof joseErrors.JWTExpired) throw new IdJagRefused('assertion expired');
    if (e instanceof joseErrors.JWTClaimValidationFailed) throw new IdJagRefused(`assertion ${e.claim} claim is not valid here`);
    if (e instanceof joseErrors.JOSEError) throw new IdJagRefused('assertion signature is not from the trusted issuer');
    throw e;
  }
  if (!exactlyOne(payload.aud, expected.audience)) throw new IdJagRefused('assertion aud must name exactly this authorization server');
  if (!exactlyOne(payload.resource, expected.resource)) throw new IdJagRefused("assertion resource must be this tenant's MCP URL");
  if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 256) throw new IdJagRefused('assertion jti is missing or too long');
  if (typeof payload.sub !== 'string' || payload.sub.length > 256) throw new IdJagRefused('assertion sub is not valid');
  return {
    idp,
    subject: payload.sub,
    email: typeof payload.email === 'string' ? payload.email : undefined,
    jti: payload.jti,
    expiresAt: payload.exp!,
    scopes: typeof payload.scope === 'string' ? parseScopes(payload.scope) : undefined,
  };
}

function exactlyOne(value: unknown, expected: string): boolean {
  if (typeof value === 'string') return value === expected;
  return Array.isArray(value) && value.length === 1 && value[0] === expected;
}
