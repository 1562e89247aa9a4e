import { auditPublicKeys } from '@mcprt/audit';
import type { Keyring } from '@mcprt/keyring';
import { required } from '../http/state.js';
import type { Chains, Routes } from '../http/tenant-router.js';

/**
 * The tenant's audit checkpoint public keys, public like a JWKS: an auditor saves them once and
 * verifies exports offline (docs/audit.md). One Ed25519 key per keyring key.
 */
export function mountAuditKeys(routes: Routes, chains: Chains, d: { keyring: Keyring }): void {
  routes.get('/t/:tenant/v1/audit-keys', chains.tenant, (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = { keys: auditPublicKeys(d.keyring, required(ctx, 'tenant').id) };
  });
}
