import { EXPORT_FORMAT } from '@mcprt/audit';
import { auditTrail, type AuditFilter } from '@mcprt/audit';
import { type DbHandle } from '@mcprt/db';

/**
 * The NDJSON audit export (format and verification in docs/audit.md), generated
 * line by line from server-side cursors (1 000 rows per fetch) so a range of any size streams in
 * constant memory; the HTTP layer pulls lines only as fast as the client reads (backpressure).
 *
 * To be verifiable offline, the export widens the time range to whole checkpoints: every checkpoint
 * whose rows reach [since, until) comes with all the rows it sealed, then the rows not sealed yet
 * that fall in the range. A filter by user, tool, action or decision keeps only matching rows (the
 * header says `filtered`, and the verifier then checks each row given but cannot prove none is absent).
 */
export async function* auditExportLines(sql: DbHandle['sql'], tenantId: string, f: AuditFilter): AsyncGenerator<string> {
  const trail = auditTrail(sql, tenantId);
  const { since, until, ...rowFilter } = f;
  const filtered = Object.values(rowFilter).some((v) => v !== undefined);
  yield line({ type: 'export', format: EXPORT_FORMAT, tenantId, since: since?.toISOString() ?? null, until: until?.toISOString() ?? null, filtered });
  let rows = 0;
  let checkpoints = 0;
  const fromSeq = since ? await trail.firstCheckpointReaching(since) : 1;
  let afterId = 0;
  if (fromSeq !== undefined) {
    for await (const cp of trail.checkpoints(Math.max(1, fromSeq - 1))) {
      if (cp.seq < fromSeq) {
        afterId = cp.lastId; // the previous checkpoint: where this range's rows start
        continue;
      }
      if (until && new Date(cp.minAt) >= until) break;
      checkpoints++;
      const { leaves, ...rest } = cp;
      yield line({ type: 'checkpoint', v: 1, ...rest, leaves: leaves.toString('base64') });
      // Every row that exists is exported, a pruned checkpoint's range included (`pruned` means
      // none of its rows is there; a row found there anyway is the verifier's to report).
      for await (const row of trail.rowsMatching(rowFilter, afterId, cp.lastId)) {
        rows++;
        yield line({ type: 'event', ...row });
      }
      afterId = cp.lastId;
    }
  } else {
    // No checkpoint reaches `since`: everything in range is newer than the last checkpoint.
    afterId = (await trail.lastCheckpoint())?.lastId ?? 0;
  }
  for await (const row of trail.rowsMatching(f, afterId, null)) {
    rows++;
    yield line({ type: 'event', ...row });
  }
  yield line({ type: 'end', rows, checkpoints });
}

const line = (v: unknown): string => `${JSON.stringify(v)}\n`;
