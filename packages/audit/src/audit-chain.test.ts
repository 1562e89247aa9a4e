import { describe, expect, it } from 'vitest';
import {
  auditLeaf,
  auditPublicKeys,
  auditSigningKey,
  checkpointHash,
  checkpointSignatureValid,
  GENESIS_HASH,
  publicKeyFromJwk,
  rowsHashOf,
  signCheckpoint,
  type AuditRowForm,
  type CheckpointPayload,
} from './audit-chain.js';
import { AuditChainVerifier } from './audit-verify.js';
import { generateKey, parseKeyring } from '@mcprt/keyring';

const T = '7b0e4a52-3c1d-4f53-9a0e-0d6f2b7c9a11';
const row = (id: number, reason = `r${id}`): AuditRowForm => ({
  id,
  tenantId: T,
  userId: null,
  clientId: null,
  callId: null,
  tool: 'echo',
  action: 'tool_call.accepted',
  decision: 'allow',
  reason,
  requestId: null,
  at: '2026-11-30T12:00:00.123456Z',
});

function sealed(keyring = parseKeyring(`k1:${generateKey()}`), rows = [row(3), row(5), row(9)], seq = 1, prevHash = GENESIS_HASH) {
  const key = auditSigningKey(keyring, T)!;
  const leaves = Buffer.concat(rows.map(auditLeaf));
  const p: CheckpointPayload = {
    v: 1,
    tenantId: T,
    seq,
    firstId: rows[0]!.id,
    lastId: rows.at(-1)!.id,
    count: rows.length,
    minAt: rows[0]!.at,
    maxAt: rows[0]!.at,
    rowsHash: rowsHashOf(leaves),
    prevHash,
    keyId: key.keyId,
  };
  return { keyring, key, rows, cp: { ...p, hash: checkpointHash(p), signature: signCheckpoint(p, key.privateKey), ids: rows.map((r) => r.id), leaves } };
}

describe('audit chain', () => {
  it('derives one Ed25519 key per (keyring key, tenant), deterministically; publishes it as an OKP JWK', () => {
    const keyring = parseKeyring(`k1:${generateKey()},k2:${generateKey()}`);
    const a = auditSigningKey(keyring, T)!;
    expect(auditSigningKey(keyring, T)!.keyId).toBe(a.keyId);
    expect(a.keyId).toMatch(/^audit-k2-[A-Za-z0-9_-]{12}$/);
    expect(auditSigningKey(keyring, '00000000-0000-4000-8000-000000000000')!.keyId).not.toBe(a.keyId);
    const published = auditPublicKeys(keyring, T);
    expect(published.map((k) => k.kid)).toEqual([a.keyId, auditSigningKey(keyring, T, 'k1')!.keyId]);
    expect(published[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    expect(JSON.stringify(published)).not.toMatch(/"d"/);
  });

  it('a signature holds for the exact payload only', () => {
    const { key, cp } = sealed();
    const { hash: _h, signature, ids: _i, leaves: _l, ...payload } = cp;
    expect(checkpointSignatureValid(payload, signature, key.publicKey)).toBe(true);
    expect(checkpointSignatureValid({ ...payload, count: 4 }, signature, key.publicKey)).toBe(false);
  });

  it('the verifier accepts the sealed rows and names a missing, altered or unexpected one', () => {
    const { key, cp, rows } = sealed();
    const keys = new Map([[key.keyId, publicKeyFromJwk({ x: (key.publicKey.export({ format: 'jwk' }) as { x: string }).x })]]);
    const run = (feed: AuditRowForm[]) => {
      const v = new AuditChainVerifier({ tenantId: T, keys });
      v.checkpoint(cp);
      for (const r of feed) v.row(r);
      return v.end();
    };
    expect(run(rows)).toMatchObject({ ok: true, rowsVerified: 3 });
    expect(run([rows[0]!, rows[2]!]).findings[0]).toMatchObject({ kind: 'missing', rowId: 5 });
    expect(run([rows[0]!, row(5, 'changed'), rows[2]!]).findings[0]).toMatchObject({ kind: 'altered', rowId: 5 });
    expect(run([rows[0]!, row(4), ...rows.slice(1)]).findings[0]).toMatchObject({ kind: 'unexpected', rowId: 4 });
    expect(run([...rows, row(12)])).toMatchObject({ ok: true, unsealedRows: 1 });
  });

  it('pruned checkpoints must be a prefix of the chain: rows gone after a checkpoint whose rows are kept are missing', () => {
    const keyring = parseKeyring(`k1:${generateKey()}`);
    const a = sealed(keyring, [row(1), row(2)]);
    const b = sealed(keyring, [row(3), row(4)], 2, a.cp.hash);
    const c = sealed(keyring, [row(5), row(6)], 3, b.cp.hash);
    const pub = a.key.publicKey.export({ format: 'jwk' }) as { x: string };
    const keys = new Map([[a.key.keyId, publicKeyFromJwk({ x: pub.x })]]);
    const run = (pruned: boolean[]) => {
      const v = new AuditChainVerifier({ tenantId: T, keys });
      [a, b, c].forEach((s, i) => {
        v.checkpoint({ ...s.cp, pruned: pruned[i]! });
        if (!pruned[i]) for (const r of s.rows) v.row(r);
      });
      return v.end();
    };
    expect(run([true, true, false])).toMatchObject({ ok: true, rowsVerified: 2 });
    expect(run([false, false, false])).toMatchObject({ ok: true, rowsVerified: 6 });
    // Someone marks the middle checkpoint pruned and drops its rows (an edited export, say).
    const r = run([false, true, false]);
    expect(r.ok).toBe(false);
    expect(r.findings[0]).toMatchObject({ kind: 'missing', checkpointSeq: 2 });
  });
});
