/**
 * An enterprise IdP double for enterprise-managed authorization (ID-JAG, Cross-App Access): it signs
 * users' ID tokens, and by RFC 8693 token exchange (`requested_token_type` =
 * `urn:ietf:params:oauth:token-type:id-jag`, `subject_token` = one of its ID tokens, authenticated
 * with its own client id and secret) issues Identity Assertion JWT Authorization Grants: header `typ`
 * `oauth-id-jag+jwt`; claims iss, sub, aud (the requested `audience`), resource, client_id (the
 * client's id at the resource's authorization server, as the IdP was configured), jti, iat, exp
 * (+300 s), scope, email. The shape follows the Identity Assertion Authorization Grant draft, as the
 * MCP extension uses it. `mint` signs any claims and header a test wants (negative cases).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, jwtVerify, SignJWT, createLocalJWKSet, type JWTPayload } from 'jose';

export type SigningKey = Parameters<SignJWT['sign']>[0];

export interface EnterpriseIdpOptions {
  /** The IdP's own clients (the MCP host apps): secret, and the client id each has at the resource AS. */
  clients: Record<string, { secret: string; resourceClientId: string }>;
}

export async function startEnterpriseIdp(o: EnterpriseIdpOptions) {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' };
  const jwks = createLocalJWKSet({ keys: [jwk] });
  const exchanges: Record<string, string>[] = [];
  let issuer = '';

  async function mint(claims: JWTPayload, header: { typ?: string; key?: SigningKey } = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iat: now, exp: now + 300, jti: crypto.randomUUID(), iss: issuer, ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'idp-1', typ: header.typ ?? 'oauth-id-jag+jwt' })
      .sign(header.key ?? privateKey);
  }

  async function idToken(sub: string, clientId: string): Promise<string> {
    return mint({ sub, aud: clientId, email: `${sub}@corp.example`, nonce: 'n' }, { typ: 'JWT' });
  }

  async function tokenExchange(form: URLSearchParams): Promise<{ status: number; body: unknown }> {
    const bad = (error: string, description: string) => ({ status: 400, body: { error, error_description: description } });
    const client = o.clients[form.get('client_id') ?? ''];
    if (!client || client.secret !== form.get('client_secret')) return { status: 401, body: { error: 'invalid_client' } };
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:token-exchange') return bad('unsupported_grant_type', 'token exchange only');
    if (form.get('requested_token_type') !== 'urn:ietf:params:oauth:token-type:id-jag') return bad('invalid_request', 'requested_token_type must be id-jag');
    if (form.get('subject_token_type') !== 'urn:ietf:params:oauth:token-type:id_token') return bad('invalid_request', 'subject_token_type must be id_token');
    let subject: JWTPayload;
    try {
      ({ payload: subject } = await jwtVerify(form.get('subject_token') ?? '', jwks, { issuer, audience: form.get('client_id')! }));
    } catch {
      return bad('invalid_grant', 'subject_token is not an ID token of this IdP for this client');
    }
    const jag = await mint({
      sub: subject.sub,
      email: subject.email,
      aud: form.get('audience') ?? '',
      resource: form.get('resource') ?? '',
      client_id: client.resourceClientId,
      ...(form.get('scope') ? { scope: form.get('scope')! } : {}),
    });
    return {
      status: 200,
      body: {
        access_token: jag,
        issued_token_type: 'urn:ietf:params:oauth:token-type:id-jag',
        token_type: 'N_A',
        expires_in: 300,
        ...(form.get('scope') ? { scope: form.get('scope') } : {}),
      },
    };
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    const path = (req.url ?? '/').split('?', 1)[0];
    if (req.method === 'GET' && path === '/.well-known/oauth-authorization-server')
      return send(200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        grant_types_supported: ['authorization_code', 'urn:ietf:params:oauth:grant-type:token-exchange'],
      });
    if (req.method === 'GET' && path === '/jwks') return send(200, { keys: [jwk] });
    if (req.method === 'POST' && path === '/token') {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      req.on('end', () => {
        const form = new URLSearchParams(raw);
        exchanges.push(Object.fromEntries(form));
        tokenExchange(form).then(
          (a) => send(a.status, a.body),
          () => send(500, { error: 'server_error' }),
        );
      });
      return;
    }
    send(404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    get issuer() {
      return issuer;
    },
    jwksUri: `${issuer}/jwks`,
    exchanges,
    idToken,
    mint,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export type EnterpriseIdp = Awaited<ReturnType<typeof startEnterpriseIdp>>;
