import type Router from '@koa/router';
import { auditPublicKeys } from '@mcprt/audit';
import { resolveTenant } from '../http/resolve-tenant.js';
import { required, type ApiState } from '../http/state.js';
import type { ApiResources } from '../resources.js';

/**
 * The tenant's audit checkpoint public keys (issue 11 item 6), public like a JWKS: an auditor saves
 * them once and verifies exports offline (docs/audit.md). One Ed25519 key per keyring key.
 */
export function mountAuditKeys(router: Router<ApiState>, r: ApiResources): void {
  router.get('/t/:tenant/v1/audit-keys', resolveTenant(r.tenants, r.db.db), (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = { keys: auditPublicKeys(r.keyring, required(ctx, 'tenant').id) };
  });
}
