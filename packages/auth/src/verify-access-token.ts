import { AppError } from '@mcprt/errors';
import { errors as joseErrors, jwtVerify } from 'jose';
import type { IssuerDirectory } from './issuer-directory.js';

export interface VerifiedToken {
  issuer: string;
  subject: string;
  scopes: string[];
  clientId: string | undefined;
  expiresAt: number;
  email: string | undefined;
  name: string | undefined;
}

const ALGORITHMS = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'];

/**
 * Resource-server check of a bearer token (DESIGN §3.1, MCP authorization spec "Token Validation"):
 * a JWT signed by the tenant's issuer, with `aud` naming exactly this tenant's MCP resource URL, not
 * expired. Tokens minted for another tenant, another resource or another issuer are refused.
 */
export async function verifyAccessToken(directory: IssuerDirectory, token: string, expected: { issuer: string; audience: string }): Promise<VerifiedToken> {
  const invalid = (message: string, cause?: unknown) => new AppError('auth', 'invalid_token', message, { cause });
  let jwks;
  try {
    jwks = await directory.jwks(expected.issuer);
  } catch (cause) {
    // The IdP being down is our problem, not a bad token: 503 rather than 401 (no re-auth loop).
    throw new AppError('unavailable', 'issuer_unavailable', 'the identity provider cannot be reached', { cause, retryable: true });
  }
  try {
    const { payload } = await jwtVerify(token, jwks, {
      issuer: expected.issuer,
      audience: expected.audience,
      algorithms: ALGORITHMS,
      requiredClaims: ['exp', 'sub'],
      clockTolerance: 5,
    });
    const scope = typeof payload.scope === 'string' ? payload.scope : '';
    const clientId = typeof payload.client_id === 'string' ? payload.client_id : typeof payload.azp === 'string' ? payload.azp : undefined;
    return {
      issuer: expected.issuer,
      subject: payload.sub!,
      scopes: scope.split(' ').filter(Boolean),
      clientId,
      expiresAt: payload.exp!,
      email: typeof payload.email === 'string' ? payload.email : undefined,
      name: typeof payload.name === 'string' ? payload.name : undefined,
    };
  } catch (e) {
    if (e instanceof joseErrors.JWTExpired) throw invalid('token expired', e);
    if (e instanceof joseErrors.JWTClaimValidationFailed) throw invalid(`token ${e.claim} claim is not valid here`, e);
    if (e instanceof joseErrors.JWSSignatureVerificationFailed || e instanceof joseErrors.JWKSNoMatchingKey) {
      throw invalid("token signature is not from this tenant's issuer", e);
    }
    if (e instanceof joseErrors.JOSEError) throw invalid('token is malformed or not a signed JWT', e);
    throw e;
  }
}
