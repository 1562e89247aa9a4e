import type { AuditRowForm } from '@mcprt/audit';
import type { CallPageRow } from '@mcprt/calls';
import type { ToolRegistry } from '@mcprt/tools';
import { toCallView } from '../calls/call-result.js';
import { toolCallUrl } from '../http/urls.js';
import { encodeAuditCursor, encodeCallCursor } from './cursor.js';

/** A page of calls as the APIs answer it: one more row was read than shown, to know whether a next page exists. */
export function callPageBody(rows: CallPageRow[], limit: number, o: { publicUrl: string; slug: string; registry: ToolRegistry; withUser: boolean }) {
  const shown = rows.slice(0, limit);
  const last = shown[shown.length - 1];
  return {
    items: shown.map(({ call }) => ({
      ...(o.withUser ? { userId: call.userId } : {}),
      ...toCallView(call, o.registry.get(call.tool), toolCallUrl(o.publicUrl, o.slug, call.id)),
    })),
    nextCursor: rows.length > limit && last ? encodeCallCursor(last.createdKey, last.call.id) : null,
  };
}

export function auditPageBody(rows: AuditRowForm[], limit: number) {
  const shown = rows.slice(0, limit);
  const last = shown[shown.length - 1];
  return { items: shown, nextCursor: rows.length > limit && last ? encodeAuditCursor(last.id) : null };
}
