import { tenantsRepository, type Executor, type TenantLimits } from '@mcprt/db';
import type { ToolRegistry } from '@mcprt/tools';
import { z } from 'zod';
import { esc } from '../auth-server/pages.js';
import { required } from '../http/state.js';
import type { Chains, Routes } from '../http/tenant-router.js';
import { auditAction, backTo, consolePage, csrfField, formOf, notice, parseForm } from './layout.js';
import { consolePath } from './session.js';

const count = (what: string, max: number) =>
  z.coerce
    .number({ message: `${what} must be a number` })
    .int(`${what} must be a whole number`)
    .min(1, `${what} must be at least 1`)
    .max(max, `${what} must be at most ${max}`);
const optionalCount = (what: string, max: number) => z.preprocess((v) => (v === '' || v === undefined ? undefined : v), count(what, max).optional());

/** What the limits form may set (per-user overrides are kept as they are: the CLI's). */
const limitsForm = z.strictObject({
  csrf: z.string(),
  pendingCap: count('pending calls per user', 10_000),
  perUserConcurrency: count('concurrent calls per user', 1_000),
  perUserRatePerMinute: count('calls per user per minute', 100_000),
  tenantRatePerMinute: optionalCount('calls of the tenant per minute', 10_000_000),
  perUserUpstreamPerMinute: optionalCount('upstream requests per user per minute', 100_000),
});

const toolsForm = (names: readonly string[]) =>
  z.strictObject({
    csrf: z.string(),
    tool: z
      .union([z.string(), z.array(z.string())])
      .transform((v) => [...new Set(Array.isArray(v) ? v : [v])])
      .refine((v) => v.every((n) => names.includes(n)), 'unknown tool')
      .refine((v) => v.length > 0 && v.length <= names.length, 'enable at least one tool'),
  });

/**
 * Tools & limits: the tenant's tool allowlist (checkboxes of the registry's tools) and its call
 * limits (admission cap, concurrency, rates), each form validated with zod and written through the
 * tenants repository, audited with the old and new values. API replicas cache a tenant for 30 s
 * (http/tenant-cache.ts), so a change applies everywhere within that.
 */
export function mountSettingsPage(routes: Routes, chains: Chains, d: { db: Executor; registry: ToolRegistry }): void {
  const repo = tenantsRepository(d.db);
  const names = () => d.registry.names();

  routes.get('/t/:tenant/admin/settings', chains.operator, async (ctx) => {
    // Fresh from the database (the request's tenant may be up to 30 s old).
    const t = (await repo.byId(required(ctx, 'tenant').id))!;
    const base = consolePath(t.slug);
    const boxes = names()
      .map((n) => `<label class="check"><input type="checkbox" name="tool" value="${esc(n)}"${t.enabledTools.includes(n) ? ' checked' : ''}>${esc(n)}</label>`)
      .join('');
    const num = (name: keyof TenantLimits, label: string, optional = false) => {
      const v = t.limits[name];
      return `<label>${esc(label)}<input name="${esc(name)}" inputmode="numeric" value="${esc(typeof v === 'number' ? String(v) : '')}"${optional ? ' placeholder="none"' : ' required'} size="10"></label>`;
    };
    const overrides = Object.keys(t.limits.userOverrides ?? {}).length;
    ctx.type = 'html';
    ctx.body = consolePage(
      ctx,
      'settings',
      'Tools & limits',
      `${notice(ctx)}<h2>Enabled tools</h2><form method="post" action="${esc(`${base}/settings/tools`)}" class="row">${csrfField(ctx)}${boxes}<button type="submit">Save tools</button></form>
<h2>Limits</h2><form method="post" action="${esc(`${base}/settings/limits`)}" class="row">${csrfField(ctx)}
${num('pendingCap', 'Pending calls per user')}${num('perUserConcurrency', 'Concurrent calls per user')}${num('perUserRatePerMinute', 'Calls per user per minute')}
${num('tenantRatePerMinute', 'Calls of the tenant per minute', true)}${num('perUserUpstreamPerMinute', 'Upstream requests per user per minute', true)}<button type="submit">Save limits</button></form>
<p class="muted">${overrides} per-user override(s) (kept as they are). Changes reach every API replica within 30 s.</p>`,
    );
  });

  routes.post('/t/:tenant/admin/settings/tools', chains.operator, parseForm, async (ctx) => {
    const f = formOf(ctx, toolsForm(names()));
    const t = (await repo.byId(required(ctx, 'tenant').id))!;
    await repo.setEnabledTools(t.id, f.tool);
    await auditAction(ctx, 'tools_changed', { reason: `${t.enabledTools.join(',')} -> ${f.tool.join(',')}` });
    backTo(ctx, t, 'settings', 'Tools saved.');
  });

  routes.post('/t/:tenant/admin/settings/limits', chains.operator, parseForm, async (ctx) => {
    const { csrf: _csrf, ...f } = formOf(ctx, limitsForm);
    const t = (await repo.byId(required(ctx, 'tenant').id))!;
    const next: TenantLimits = { ...f, ...(t.limits.userOverrides ? { userOverrides: t.limits.userOverrides } : {}) };
    if (next.tenantRatePerMinute === undefined) delete next.tenantRatePerMinute;
    if (next.perUserUpstreamPerMinute === undefined) delete next.perUserUpstreamPerMinute;
    await repo.setLimits(t.id, next);
    const { userOverrides: _o, ...before } = t.limits;
    await auditAction(ctx, 'limits_changed', { reason: `${JSON.stringify(before)} -> ${JSON.stringify(f)}` });
    backTo(ctx, t, 'settings', 'Limits saved.');
  });
}
