import { serviceSubject } from '@mcprt/policy';
import type { Logger } from '@mcprt/observability';
import type Provider from 'oidc-provider';
import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';

/**
 * Machine clients (the MCP `io.modelcontextprotocol/oauth-client-credentials` extension): service
 * clients an operator registers (`pnpm cli client create-service`) get access tokens by OAuth
 * `client_credentials`, for the tenant's MCP resource only, naming the service principal
 * `svc:<client_id>` with the tool scopes the client was registered with, as far as the tenant still
 * enables those tools.
 */

/** Grants only an operator-registered client may hold: no dynamic registration, no metadata document. */
export const OPERATOR_ONLY_GRANTS = ['client_credentials', 'urn:ietf:params:oauth:grant-type:jwt-bearer'] as const;

/** Client metadata (written only by the CLI): the scopes a service client was registered with. */
export const SERVICE_SCOPES_PROPERTY = 'mcprt_service_scopes';

/**
 * Refuses a dynamic registration or a Client ID Metadata Document that claims an operator-only
 * grant or service scopes: anyone can register a client or publish a document, so neither may become
 * a machine client or an enterprise-managed one. Called by the `extraClientMetadata` validator.
 */
export function checkOperatorOnlyMetadata(ctx: KoaContextWithOIDC | undefined, metadata: Record<string, unknown>): void {
  const grants = Array.isArray(metadata.grant_types) ? (metadata.grant_types as unknown[]) : [];
  const wantsOperatorOnly = grants.some((g) => (OPERATOR_ONLY_GRANTS as readonly unknown[]).includes(g)) || metadata[SERVICE_SCOPES_PROPERTY] !== undefined;
  if (!wantsOperatorOnly) return;
  const fromDocument = typeof metadata.client_id === 'string' && /^https?:\/\//i.test(metadata.client_id);
  if (ctx?.oidc?.route === 'registration' || fromDocument) {
    throw new errors.InvalidClientMetadata('client_credentials, jwt-bearer and service scopes are only for clients the operator registers');
  }
  const scopes = metadata[SERVICE_SCOPES_PROPERTY];
  if (scopes !== undefined && typeof scopes !== 'string') throw new errors.InvalidClientMetadata(`${SERVICE_SCOPES_PROPERTY} must be a string`);
}

/** The scopes a client_credentials token of `client` may carry: registered ∩ the tenant's. */
export function serviceScopes(client: { metadata(): Record<string, unknown> } | undefined, resourceScopes: readonly string[]): string[] {
  const registered = client?.metadata()[SERVICE_SCOPES_PROPERTY];
  if (typeof registered !== 'string') return [];
  const mine = new Set(registered.split(' ').filter(Boolean));
  return resourceScopes.filter((s) => mine.has(s));
}

/**
 * The resource server's scope for a client_credentials request: what the client may hold. A request
 * for nothing it may hold (no scope, or only scopes it was not registered with or the tenant no longer
 * enables) is `invalid_scope`; otherwise the token gets the requested scopes within that set (RFC 6749
 * §3.3: the server may issue fewer than requested — the SDK asks for every advertised scope).
 */
export function clientCredentialsScope(ctx: KoaContextWithOIDC, resourceScopes: readonly string[]): string {
  const allowed = serviceScopes(ctx.oidc.client, resourceScopes);
  const raw = ctx.oidc.params?.scope;
  const requested = typeof raw === 'string' ? raw.split(' ').filter(Boolean) : [];
  if (!requested.some((s) => allowed.includes(s))) {
    throw new errors.InvalidScope('none of the requested scopes is registered for this client and enabled for this tenant', requested.join(' '));
  }
  return allowed.join(' ');
}

type JwtCustomizer = NonNullable<NonNullable<Configuration['formats']>['customizers']>['jwt'];
type AuditAppend = (e: { userId: null; clientId: string; action: string; decision: 'allow' | 'deny'; reason: string | null }) => Promise<void>;

/**
 * A client_credentials access token names the service principal (`svc:<client_id>`), never a bare
 * client id; its issue is audited (`token.client_credentials`, with the scopes) before the token
 * exists, so no machine token is issued without its row.
 */
export function jwtCustomizer(audit: AuditAppend): JwtCustomizer {
  return async (_ctx, token, jwt) => {
    if ((token as { kind?: string }).kind !== 'ClientCredentials') return;
    const clientId = String(jwt.payload.client_id);
    jwt.payload.sub = serviceSubject(clientId);
    await audit({ userId: null, clientId, action: 'token.client_credentials', decision: 'allow', reason: `scope ${String(jwt.payload.scope ?? '')}`.trim() });
  };
}

/** A refused client_credentials request (wrong secret, scope, resource, replayed assertion): audited, after the answer. */
export function auditRefusedClientCredentials(provider: Provider, audit: AuditAppend, log: Pick<Logger, 'warn'>): void {
  provider.on('grant.error', (ctx: KoaContextWithOIDC, err: { error?: string; error_description?: string }) => {
    if (ctx.oidc?.params?.grant_type !== 'client_credentials') return;
    const clientId = ctx.oidc.client?.clientId ?? (typeof ctx.oidc.params.client_id === 'string' ? ctx.oidc.params.client_id.slice(0, 200) : 'unknown');
    const reason = `${err.error ?? 'error'}: ${err.error_description ?? ''}`.slice(0, 300);
    audit({ userId: null, clientId, action: 'token.client_credentials', decision: 'deny', reason }).catch((e: unknown) =>
      log.warn({ err: e }, 'audit of a refused client_credentials request failed'),
    );
  });
}
