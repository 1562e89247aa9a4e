import { AppError } from '@mcprt/errors';
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { IssuerDirectory } from './issuer-directory.js';
import { parseScopes } from '@mcprt/policy';

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

export interface ExpectedToken {
  issuer: string;
  audience: string;
  /**
   * RFC 9068 §2.1 / §4: the token must be a JWT access token, header `typ` = `at+jwt` (or
   * `application/at+jwt`), so an ID token or any other JWT the issuer signs with the same keys is
   * not accepted as an access token. Set for the built-in authorization server, which always issues
   * `at+jwt`; external IdPs keep their own `typ` (many send `JWT` or none) and are not held to it.
   */
  requireAtJwt?: boolean;
}

/**
 * Resource-server check of a bearer token (MCP authorization spec "Token Validation"):
 * a JWT signed by the tenant's issuer, with `aud` naming exactly this tenant's MCP resource URL, not
 * expired. Tokens minted for another tenant, another resource or another issuer are refused, and
 * so is a token minted for several audiences (it would work at each of them).
 *
 * Cheap checks first: a token that is not a JWT from this issuer for this audience is refused before
 * any network work (issuer discovery, JWKS), so garbage costs no outbound request.
 */
export async function verifyAccessToken(directory: Pick<IssuerDirectory, 'jwks'>, token: string, expected: ExpectedToken): Promise<VerifiedToken> {
  const invalid = (message: string, cause?: unknown) => new AppError('auth', 'invalid_token', message, { cause });
  precheckAccessToken(token, expected);
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
    // jose accepts an `aud` array that merely contains the audience; we want exactly one.
    if (!isExactAudience(payload.aud, expected.audience)) throw invalid(AUDIENCE_MESSAGE);
    const scope = typeof payload.scope === 'string' ? payload.scope : '';
    const clientId = typeof payload.client_id === 'string' ? payload.client_id : typeof payload.azp === 'string' ? payload.azp : undefined;
    return {
      issuer: expected.issuer,
      subject: payload.sub!,
      scopes: parseScopes(scope),
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

const AUDIENCE_MESSAGE = "token aud claim must name exactly this tenant's MCP resource URL, and nothing else";

/** `aud` is the expected resource URL: a string equal to it, or an array of exactly that one string. */
function isExactAudience(aud: unknown, expected: string): boolean {
  if (typeof aud === 'string') return aud === expected;
  return Array.isArray(aud) && aud.length === 1 && aud[0] === expected;
}

/** RFC 9068 §4: `at+jwt`, or its full media type `application/at+jwt` (media types are case-insensitive). */
function isAtJwt(typ: unknown): boolean {
  if (typeof typ !== 'string') return false;
  return typ === 'at+jwt' || typ === 'application/at+jwt' || /^(application\/)?at\+jwt$/i.test(typ);
}

const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * What can be checked without a key and without the network: a compact JWS (three base64url
 * segments) whose header names an allowed algorithm and whose payload names this tenant's issuer and,
 * exactly, this tenant's audience. Nothing here is trusted (the signature is not checked yet); it
 * only refuses early what the full check would refuse too.
 */
function precheckAccessToken(token: string, expected: ExpectedToken): void {
  const invalid = (message: string) => new AppError('auth', 'invalid_token', message);
  if (token.length > 16_384) throw invalid('token is too long');
  if (!JWS_COMPACT.test(token)) throw invalid('token is not a JWT (three base64url segments separated by dots)');
  let header: ReturnType<typeof decodeProtectedHeader>;
  let payload: JWTPayload;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw invalid('token header is not a base64url-encoded JSON object');
  }
  const alg = header.alg;
  if (typeof alg !== 'string' || !ALGORITHMS.includes(alg)) throw invalid(`token alg must be one of ${ALGORITHMS.join(', ')}`);
  // The protected header is covered by the signature checked next, so checking `typ` here, on the
  // header already decoded for `alg`, is the check itself: two string comparisons, no allocation.
  if (expected.requireAtJwt && !isAtJwt(header.typ)) throw invalid('token typ must be at+jwt (RFC 9068 JWT access token)');
  try {
    payload = decodeJwt(token);
  } catch {
    throw invalid('token payload is not a base64url-encoded JSON object');
  }
  if (payload.iss !== expected.issuer) throw invalid("token iss claim is not this tenant's issuer");
  if (!isExactAudience(payload.aud, expected.audience)) throw invalid(AUDIENCE_MESSAGE);
}
