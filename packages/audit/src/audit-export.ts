import { z } from 'zod';
import { publicKeyFromJwk, type AuditPublicJwk } from './audit-chain.js';
import { AuditChainVerifier, type VerifyReport } from './audit-verify.js';

/**
 * The NDJSON audit export (GET /t/:tenant/v1/admin/audit-events with `Accept: application/x-ndjson`)
 * and its offline verification with nothing but the tenant's published public keys
 * (docs/audit.md "Verifying an export offline"). Line types, in file order:
 *
 *   {"type":"export", format, tenantId, since, until, filtered}          first line
 *   {"type":"checkpoint", …payload, hash, signature, ids, leaves, pruned} then the rows it sealed
 *   {"type":"event", id, tenantId, userId, …, at}                       rows, ascending id
 *   {"type":"end", rows, checkpoints}                                    last line (a cut-off file lacks it)
 */

export const EXPORT_FORMAT = 'mcprt.audit-export.v1';

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const isoMicro = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
const nullableText = z.string().nullable();

const exportHeaderLine = z.object({
  type: z.literal('export'),
  format: z.literal(EXPORT_FORMAT),
  tenantId: z.string(),
  since: z.string().nullable(),
  until: z.string().nullable(),
  /** Filtered by user, tool, action or decision: rows a checkpoint sealed may be absent on purpose. */
  filtered: z.boolean(),
});

const exportCheckpointLine = z.object({
  type: z.literal('checkpoint'),
  v: z.literal(1),
  tenantId: z.string(),
  seq: z.number().int().positive(),
  firstId: z.number().int().positive(),
  lastId: z.number().int().positive(),
  count: z.number().int().positive(),
  minAt: isoMicro,
  maxAt: isoMicro,
  rowsHash: hex64,
  prevHash: hex64,
  keyId: z.string(),
  hash: hex64,
  signature: z.string(),
  ids: z.array(z.number().int().positive()),
  /** base64 of the 32-byte leaves, concatenated in id order. */
  leaves: z.string(),
  pruned: z.boolean(),
});

const exportEventLine = z.object({
  type: z.literal('event'),
  id: z.number().int().positive(),
  tenantId: z.string(),
  userId: nullableText,
  clientId: nullableText,
  callId: nullableText,
  tool: nullableText,
  action: z.string(),
  decision: z.string(),
  reason: nullableText,
  requestId: nullableText,
  at: isoMicro,
});

const exportEndLine = z.object({ type: z.literal('end'), rows: z.number().int(), checkpoints: z.number().int() });

const anyLine = z.discriminatedUnion('type', [exportHeaderLine, exportCheckpointLine, exportEventLine, exportEndLine]);

export interface ExportVerifyReport extends VerifyReport {
  /** A line that is not valid JSON of the format, by line number (1-based). */
  malformedLine?: number;
  /** The file has no `end` line: it was cut off. */
  truncated: boolean;
}

/**
 * Verify an export given line by line, with the tenant's published keys (the JSON array `keys` of
 * GET /t/:tenant/v1/audit-keys). Pure: no network, no database.
 */
export async function verifyAuditExport(
  lines: AsyncIterable<string> | Iterable<string>,
  keys: Pick<AuditPublicJwk, 'kid' | 'x'>[],
): Promise<ExportVerifyReport> {
  const keyMap = new Map(keys.map((k) => [k.kid, publicKeyFromJwk(k)]));
  let verifier: AuditChainVerifier | undefined;
  let n = 0;
  let ended = false;
  const fail = (line: number): ExportVerifyReport => ({
    ...(verifier?.end() ?? { ok: false, findings: [], checkpoints: 0, rowsVerified: 0, unsealedRows: 0 }),
    ok: false,
    malformedLine: line,
    truncated: false,
  });
  for await (const text of lines) {
    n++;
    if (text.trim() === '') continue;
    let parsed;
    try {
      parsed = anyLine.safeParse(JSON.parse(text));
    } catch {
      return fail(n);
    }
    if (!parsed.success || ended) return fail(n);
    const line = parsed.data;
    if (line.type === 'export') {
      if (verifier) return fail(n);
      // A time-range export starts at the first checkpoint that reaches the range: anchored there.
      verifier = new AuditChainVerifier({ tenantId: line.tenantId, keys: keyMap, anchored: true, partialRows: line.filtered });
      continue;
    }
    if (!verifier) return fail(n);
    if (line.type === 'checkpoint') {
      const { type: _t, leaves, ...cp } = line;
      verifier.checkpoint({ ...cp, leaves: Buffer.from(leaves, 'base64') });
    } else if (line.type === 'event') {
      const { type: _t, ...row } = line;
      verifier.row(row);
    } else ended = true;
  }
  if (!verifier) return fail(n);
  const report = verifier.end();
  return { ...report, ok: report.ok && ended, truncated: !ended };
}
