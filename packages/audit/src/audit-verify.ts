import type { KeyObject } from 'node:crypto';
import {
  auditLeaf,
  checkpointHash,
  checkpointPayloadOf,
  checkpointSignatureValid,
  GENESIS_HASH,
  rowsHashOf,
  type AuditRowForm,
  type SealedCheckpoint,
} from './audit-chain.js';

/**
 * Streaming verification of an audit trail (docs/audit.md "Verification algorithm"): feed checkpoints
 * in seq order, each followed by the rows of its id range in id order, then the rows after the last
 * checkpoint; `end()` says what is wrong, first finding first. Used by `pnpm cli audit verify` (rows
 * from Postgres) and by the offline verifier of an NDJSON export (rows from the file): same code,
 * same answers. Memory: one checkpoint's ids and leaves.
 */

export interface CheckpointRecord extends SealedCheckpoint {
  /**
   * Its rows were removed by retention: the chain is checked, the rows are not expected (a row fed
   * anyway is `unexpected`). From the database this is its verdict (no row of the range left AND a
   * prune that agrees with the retention floor), never a retention-log row alone.
   */
  pruned?: boolean;
  /** Its rows are not part of this verification (before `--since`): the chain is checked, rows are not fed. */
  skipRows?: boolean;
}

export type FindingKind =
  | 'missing' // a row the checkpoint sealed is not there
  | 'altered' // a row is there but differs from what was sealed
  | 'reordered' // a row holds what was sealed under another id, or rows are out of order
  | 'unexpected' // a row inside a sealed range that the checkpoint does not hold (inserted afterwards)
  | 'checkpoint_altered' // a checkpoint's fields disagree with its hash, signature or sealed leaves
  | 'checkpoint_missing' // a gap in the checkpoint sequence, or a broken prevHash link
  | 'unknown_key'; // a checkpoint signed by a key the verifier was not given

export interface Finding {
  kind: FindingKind;
  message: string;
  rowId?: number;
  checkpointSeq?: number;
}

export interface VerifyReport {
  ok: boolean;
  findings: Finding[];
  checkpoints: number;
  rowsVerified: number;
  /** Rows after the last checkpoint: not sealed yet, so not verifiable yet. */
  unsealedRows: number;
}

const MAX_FINDINGS = 50;

export class AuditChainVerifier {
  readonly #tenantId: string;
  readonly #keys: Map<string, KeyObject>;
  readonly #findings: Finding[] = [];
  #prev: CheckpointRecord | undefined;
  #cur: (CheckpointRecord & { pos: number; byLeaf?: Map<string, number> }) | undefined;
  #lastRowId = 0;
  /** The first checkpoint fed whose rows are kept (not pruned). */
  #keptSeq: number | undefined;
  #checkpoints = 0;
  #rows = 0;
  #unsealed = 0;

  /**
   * @param opts.anchored  the first checkpoint fed need not be seq 1 (a verification `--since`, or an
   *   export of a time range): its prevHash is taken as given. Otherwise the chain must start at seq 1.
   */
  constructor(opts: { tenantId: string; keys: Map<string, KeyObject>; anchored?: boolean; partialRows?: boolean }) {
    this.#tenantId = opts.tenantId;
    this.#keys = opts.keys;
    this.#anchored = opts.anchored ?? false;
    this.#partial = opts.partialRows ?? false;
  }
  readonly #anchored: boolean;
  /** A filtered export (by user, tool, …): each row given is checked, absent rows are not reported. */
  readonly #partial: boolean;

  #find(f: Finding): void {
    if (this.#findings.length < MAX_FINDINGS) this.#findings.push(f);
  }

  checkpoint(cp: CheckpointRecord): void {
    this.#closeCheckpoint();
    this.#checkpoints++;
    const seq = cp.seq;
    const payload = checkpointPayloadOf(cp);
    const key = this.#keys.get(cp.keyId);
    if (cp.tenantId !== this.#tenantId) this.#find({ kind: 'checkpoint_altered', checkpointSeq: seq, message: `checkpoint ${seq} names another tenant` });
    if (!key)
      this.#find({ kind: 'unknown_key', checkpointSeq: seq, message: `checkpoint ${seq} is signed with key ${cp.keyId}, which is not among the keys given` });
    else if (!checkpointSignatureValid(payload, cp.signature, key))
      this.#find({
        kind: 'checkpoint_altered',
        checkpointSeq: seq,
        message: `checkpoint ${seq}: the signature does not match its fields (altered checkpoint)`,
      });
    if (checkpointHash(payload) !== cp.hash)
      this.#find({ kind: 'checkpoint_altered', checkpointSeq: seq, message: `checkpoint ${seq}: its hash does not match its fields` });
    // The chain: consecutive seqs, each naming the previous one's hash.
    if (this.#prev) {
      if (seq !== this.#prev.seq + 1)
        this.#find({
          kind: 'checkpoint_missing',
          checkpointSeq: seq,
          message: `checkpoint ${seq} follows checkpoint ${this.#prev.seq}: checkpoints are missing`,
        });
      else if (cp.prevHash !== this.#prev.hash)
        this.#find({
          kind: 'checkpoint_missing',
          checkpointSeq: seq,
          message: `checkpoint ${seq} does not link to checkpoint ${this.#prev.seq} (prevHash differs)`,
        });
      if (cp.firstId <= this.#prev.lastId)
        this.#find({ kind: 'checkpoint_altered', checkpointSeq: seq, message: `checkpoint ${seq} overlaps checkpoint ${this.#prev.seq}` });
    } else if (!this.#anchored && (seq !== 1 || cp.prevHash !== GENESIS_HASH)) {
      this.#find({ kind: 'checkpoint_missing', checkpointSeq: seq, message: `the chain starts at checkpoint ${seq}, not at checkpoint 1` });
    }
    // The sealed leaves must be what rowsHash (signed) commits to, and agree with the ids and count.
    const idsOk =
      cp.ids.length === cp.count &&
      cp.ids[0] === cp.firstId &&
      cp.ids[cp.ids.length - 1] === cp.lastId &&
      cp.ids.every((id, i) => i === 0 || id > cp.ids[i - 1]!);
    if (!idsOk || cp.leaves.length !== 32 * cp.count || rowsHashOf(cp.leaves) !== cp.rowsHash)
      this.#find({ kind: 'checkpoint_altered', checkpointSeq: seq, message: `checkpoint ${seq}: its sealed ids or leaves disagree with its signed rowsHash` });
    // Retention removes checkpoints oldest first (the sweep takes the oldest one that still has rows
    // and stops at one it refuses), so the pruned checkpoints are a prefix of the chain. A checkpoint
    // whose rows are gone after one whose rows are kept was not pruned by retention: its rows are missing.
    if (cp.pruned && this.#keptSeq !== undefined)
      this.#find({
        kind: 'missing',
        checkpointSeq: seq,
        message: `checkpoint ${seq}'s rows are gone although checkpoint ${this.#keptSeq} before it keeps its rows: retention removes the oldest checkpoints first`,
      });
    else if (!cp.pruned) this.#keptSeq ??= seq;
    this.#prev = cp;
    this.#cur = { ...cp, pos: 0 };
  }

  row(r: AuditRowForm): void {
    if (r.id <= this.#lastRowId) {
      const reordered: Finding = {
        kind: 'reordered',
        rowId: r.id,
        message: `row ${r.id} comes after row ${this.#lastRowId}: rows are out of order (reordered)`,
      };
      // It was reported missing when a later row passed it: it is not missing, it is out of place.
      const earlier = this.#findings.findIndex((f) => f.kind === 'missing' && f.rowId === r.id);
      if (earlier >= 0)
        this.#findings[earlier] = {
          ...reordered,
          ...(this.#findings[earlier]!.checkpointSeq ? { checkpointSeq: this.#findings[earlier]!.checkpointSeq } : {}),
        };
      else this.#find(reordered);
      return;
    }
    this.#lastRowId = r.id;
    const cp = this.#cur;
    if (!cp || r.id > cp.lastId) {
      // After the last checkpoint fed: not sealed yet.
      if (cp && r.id > cp.lastId) this.#closeCheckpoint();
      this.#unsealed++;
      return;
    }
    if (cp.skipRows) return;
    if (cp.pruned) {
      this.#find({
        kind: 'unexpected',
        rowId: r.id,
        checkpointSeq: cp.seq,
        message: `row ${r.id} is still there although retention removed checkpoint ${cp.seq}'s rows`,
      });
      return;
    }
    while (cp.pos < cp.ids.length && cp.ids[cp.pos]! < r.id) {
      const id = cp.ids[cp.pos++]!;
      if (!this.#partial) this.#missing(cp, id);
    }
    if (cp.ids[cp.pos] !== r.id) {
      this.#find({
        kind: 'unexpected',
        rowId: r.id,
        checkpointSeq: cp.seq,
        message: `row ${r.id} lies in checkpoint ${cp.seq}'s range but was not sealed by it`,
      });
      return;
    }
    const sealed = cp.leaves.subarray(cp.pos * 32, cp.pos * 32 + 32);
    cp.pos++;
    if (r.tenantId !== this.#tenantId) {
      this.#find({ kind: 'altered', rowId: r.id, checkpointSeq: cp.seq, message: `row ${r.id} names another tenant` });
      return;
    }
    if (auditLeaf(r).equals(sealed)) {
      this.#rows++;
      return;
    }
    // Does this row hold what was sealed under another id of the checkpoint (rows swapped)?
    cp.byLeaf ??= new Map(cp.ids.map((id, i) => [cp.leaves.subarray(i * 32, i * 32 + 32).toString('hex'), id]));
    const moved = cp.ids.find((other) => other !== r.id && cp.byLeaf!.get(auditLeaf({ ...r, id: other }).toString('hex')) === other);
    if (moved !== undefined)
      this.#find({
        kind: 'reordered',
        rowId: r.id,
        checkpointSeq: cp.seq,
        message: `row ${r.id} holds what checkpoint ${cp.seq} sealed as row ${moved} (reordered)`,
      });
    else this.#find({ kind: 'altered', rowId: r.id, checkpointSeq: cp.seq, message: `row ${r.id} differs from what checkpoint ${cp.seq} sealed (altered)` });
  }

  #missing(cp: CheckpointRecord, id: number): void {
    this.#find({ kind: 'missing', rowId: id, checkpointSeq: cp.seq, message: `row ${id}, sealed by checkpoint ${cp.seq}, is missing` });
  }

  #closeCheckpoint(): void {
    const cp = this.#cur;
    if (!cp) return;
    if (!cp.pruned && !cp.skipRows && !this.#partial) while (cp.pos < cp.ids.length) this.#missing(cp, cp.ids[cp.pos++]!);
    this.#cur = undefined;
  }

  end(): VerifyReport {
    this.#closeCheckpoint();
    return {
      ok: this.#findings.length === 0,
      findings: this.#findings,
      checkpoints: this.#checkpoints,
      rowsVerified: this.#rows,
      unsealedRows: this.#unsealed,
    };
  }
}
