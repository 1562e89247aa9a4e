import { Readable } from 'node:stream';
import { auditPublicKeys, auditTrail, oldestUnsealed, publicKeyFromJwk, verifyTenantTrail, type VerifyReport } from '@mcprt/audit';
import type { DbHandle } from '@mcprt/db';
import type { Keyring } from '@mcprt/keyring';
import type { ParameterizedContext } from 'koa';
import { z } from 'zod';
import { esc } from '../auth-server/pages.js';
import { auditExportLines } from '../history/audit-export.js';
import { decodeAuditCursor, encodeAuditCursor } from '../history/cursor.js';
import { adminAuditQuery, parseQuery } from '../history/schemas.js';
import { required, type ApiState } from '../http/state.js';
import type { Chains, Routes } from '../http/tenant-router.js';
import { actionButton, auditAction, consolePage, formOf, parseForm, table } from './layout.js';
import { consolePath } from './session.js';

export interface AuditPageDeps {
  sql: DbHandle['sql'];
  keyring: Keyring;
}

type Ctx = ParameterizedContext<ApiState>;

/**
 * Audit: the checkpoint status (last sealed checkpoint, age of the oldest row not sealed yet), the
 * newest rows (filter by action, decision, user; 50 a page), verifying the whole chain with the
 * keyring's public keys (the code of `pnpm cli audit verify`), and the NDJSON export (the back
 * office's export, verifiable offline). Verifying and exporting are audited.
 */
export function mountAuditPage(routes: Routes, chains: Chains, d: AuditPageDeps): void {
  routes.get('/t/:tenant/admin/audit', chains.operator, async (ctx) => {
    ctx.type = 'html';
    ctx.body = consolePage(ctx, 'audit', 'Audit', await auditBody(ctx, d));
  });

  routes.post('/t/:tenant/admin/audit/verify', chains.operator, parseForm, async (ctx) => {
    formOf(ctx, z.object({ csrf: z.string() }));
    const t = required(ctx, 'tenant');
    const keys = new Map(auditPublicKeys(d.keyring, t.id).map((k) => [k.kid, publicKeyFromJwk(k)]));
    const report = await verifyTenantTrail(d.sql, t.id, keys);
    await auditAction(ctx, 'audit_verified', { reason: report.ok ? 'ok' : `failed: ${report.findings[0]?.kind ?? 'unknown'}` });
    ctx.type = 'html';
    ctx.body = consolePage(ctx, 'audit', 'Audit', `${verdict(report)}${await auditBody(ctx, d)}`);
  });

  routes.get('/t/:tenant/admin/audit/export', chains.operator, async (ctx) => {
    const t = required(ctx, 'tenant');
    await auditAction(ctx, 'audit_exported', {});
    ctx.type = 'application/x-ndjson';
    ctx.set('Content-Disposition', `attachment; filename="audit-${t.slug}.ndjson"`);
    ctx.body = Readable.from(auditExportLines(d.sql, t.id, {}), { objectMode: false, highWaterMark: 64 * 1024 });
  });
}

function verdict(r: VerifyReport): string {
  return r.ok
    ? `<p class="ok" data-verify="ok">Verified: ${r.checkpoints} checkpoint(s), ${r.rowsVerified} row(s); ${r.unsealedRows} newer row(s) not sealed yet.</p>`
    : `<p class="bad" data-verify="failed">Verification FAILED: ${esc(r.findings[0]?.message ?? 'unknown finding')} (${r.findings.length} finding(s)).</p>`;
}

async function auditBody(ctx: Ctx, d: AuditPageDeps): Promise<string> {
  const t = required(ctx, 'tenant');
  const base = consolePath(t.slug);
  const q = parseQuery(adminAuditQuery, Object.fromEntries(Object.entries(ctx.query).filter(([, v]) => v !== '')));
  const trail = auditTrail(d.sql, t.id);
  const [last, unsealed, rows] = await Promise.all([
    trail.lastCheckpoint(),
    oldestUnsealed(d.sql, [t.id], Number.MAX_SAFE_INTEGER),
    trail.page({ userId: q.user, action: q.action, decision: q.decision, tool: q.tool }, q.cursor ? decodeAuditCursor(q.cursor) : null, q.limit + 1),
  ]);
  const age = unsealed[0] ? `${Math.round(unsealed[0].ageMs / 1000)} s` : 'none (everything is sealed)';
  const status = `<table><tbody><tr><th>Last checkpoint</th><td data-checkpoint="${last?.seq ?? 0}">${
    last ? `#${last.seq}, rows up to id ${last.lastId}, sealed up to ${esc(last.maxAt)}, key <code>${esc(last.keyId)}</code>` : 'none yet'
  }</td></tr><tr><th>Oldest row not sealed</th><td>${esc(age)}</td></tr></tbody></table>
<div class="actions">${actionButton(ctx, `${base}/audit/verify`, 'Verify the whole trail')}<a href="${esc(`${base}/audit/export`)}">Export (NDJSON)</a></div>`;
  const shown = rows.slice(0, q.limit);
  const list = table(
    ['Id', 'At', 'Action', 'Decision', 'User', 'Client', 'Call', 'Reason'],
    shown.map((r) => [
      esc(String(r.id)),
      esc(r.at),
      esc(r.action),
      esc(r.decision),
      `<code>${esc(r.userId ?? '')}</code>`,
      `<code>${esc(r.clientId ?? '')}</code>`,
      r.callId ? `<a href="${esc(`${base}/calls/${r.callId}`)}"><code>${esc(r.callId)}</code></a>` : '',
      esc(r.reason ?? ''),
    ]),
    'No audit rows match.',
  );
  const lastShown = shown[shown.length - 1];
  const next = rows.length > q.limit && lastShown ? `<p><a href="${esc(`${base}/audit?cursor=${encodeAuditCursor(lastShown.id)}`)}">Older rows →</a></p>` : '';
  const filter = `<form method="get" action="${esc(`${base}/audit`)}" class="row"><label>Action<input name="action" value="${esc(q.action ?? '')}"></label>
<label>User id<input name="user" value="${esc(q.user ?? '')}" size="36"></label><button type="submit">Filter</button></form>`;
  return `${status}<h2>History</h2>${filter}${list}${next}`;
}
