import { bodyParser } from '@koa/bodyparser';
import type { Tenant } from '@mcprt/db';
import { appError } from '@mcprt/errors';
import type { ParameterizedContext } from 'koa';
import type { z } from 'zod';
import { esc, page } from '../auth-server/pages.js';
import { required, type ApiState } from '../http/state.js';
import type { Handler } from '../http/tenant-router.js';
import { consolePath, requireCsrf } from './session.js';

type Ctx = ParameterizedContext<ApiState>;

/** The console's pages, in the order of its menu. */
const SECTIONS = [
  ['calls', 'Calls'],
  ['approvals', 'Approvals'],
  ['audit', 'Audit'],
  ['users', 'Users'],
  ['clients', 'Clients & grants'],
  ['settings', 'Tools & limits'],
  ['keys', 'API keys'],
  ['queue', 'Queue'],
] as const;

type Section = (typeof SECTIONS)[number][0];

/** A console page: the menu, the operator's key and sign-out, then `body` (already escaped by its module). */
export function consolePage(ctx: Ctx, here: Section, title: string, body: string): string {
  const tenant = required(ctx, 'tenant');
  const op = required(ctx, 'operator');
  const base = consolePath(tenant.slug);
  const nav = SECTIONS.map(([s, label]) => `<a href="${esc(`${base}/${s}`)}"${s === here ? ' class="here"' : ''}>${esc(label)}</a>`).join('');
  const signOut = `<form method="post" action="${esc(`${base}/logout`)}" class="row">${csrfField(ctx)}<span class="muted">${esc(tenant.displayName)} · signed in with key <code>${esc(op.keyId)}</code></span><button type="submit">Sign out</button></form>`;
  return page(`${title} · ${tenant.displayName} admin`, `<nav>${nav}</nav>${signOut}<h1>${esc(title)}</h1>${body}`, { wide: true });
}

/** The hidden CSRF field every console form carries (the session's token). */
export const csrfField = (ctx: Ctx): string => `<input type="hidden" name="csrf" value="${esc(required(ctx, 'operator').csrf)}">`;

/** A one-button form posting `fields` to `action` (a row's action in a table). */
export function actionButton(ctx: Ctx, action: string, label: string, fields: Record<string, string> = {}): string {
  const hidden = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
    .join('');
  return `<form method="post" action="${esc(action)}">${csrfField(ctx)}${hidden}<button type="submit">${esc(label)}</button></form>`;
}

/** A table: header cells and rows of cells already escaped. */
export function table(head: readonly string[], rows: readonly (readonly string[])[], empty = 'Nothing here.'): string {
  if (rows.length === 0) return `<p class="muted">${esc(empty)}</p>`;
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

export const when = (d: Date | null | undefined): string => (d ? esc(d.toISOString().replace('.000Z', 'Z')) : '—');

/** Form bodies of the console: urlencoded, small. */
export const parseForm = bodyParser({ enableTypes: ['form'], formLimit: '16kb' }) as unknown as Handler;

/** The posted form, CSRF-checked first, then validated by `schema` (a bad form: `invalid_request` with the first issue). */
export function formOf<T extends z.ZodType>(ctx: Ctx, schema: T): z.infer<T> {
  const body = (ctx.request.body ?? {}) as Record<string, unknown>;
  requireCsrf(ctx, body.csrf);
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw appError('invalid_request', parsed.error.issues[0]?.message ?? 'invalid form');
  return parsed.data;
}

/** After an action: back to the page (303, so a reload does not post again), with a notice in the query. */
export function backTo(ctx: Ctx, tenant: Tenant, path: string, notice?: string): void {
  ctx.status = 303;
  ctx.redirect(`${consolePath(tenant.slug)}/${path}${notice ? `${path.includes('?') ? '&' : '?'}done=${encodeURIComponent(notice)}` : ''}`);
}

/** The notice of the last action (from `backTo`), shown once at the top of the page. */
export function notice(ctx: Ctx): string {
  const done = typeof ctx.query.done === 'string' ? ctx.query.done.slice(0, 200) : '';
  return done ? `<p class="ok" role="status">${esc(done)}</p>` : '';
}

/** Audit an operator's action in the tenant: who (the key id), what, on what. */
export async function auditAction(ctx: Ctx, action: string, o: { userId?: string | null; callId?: string | null; reason?: string }): Promise<void> {
  const op = required(ctx, 'operator');
  await required(ctx, 'scope').audit.append({
    clientId: `api_key:${op.keyId}`,
    userId: o.userId ?? null,
    callId: o.callId ?? null,
    action: `admin.${action}`,
    decision: 'info',
    reason: o.reason ?? null,
    requestId: ctx.state.requestId,
  });
}
