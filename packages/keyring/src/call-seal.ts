import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { sealPurposes } from './purposes.js';
import { cryptoError } from './errors.js';
import type { Keyring } from './keyring.js';
import { open, seal } from './seal.js';

/** The call a sealed argument bundle belongs to. */
export interface CallIds {
  tenantId: string;
  userId: string;
  callId: string;
}

/**
 * The real values of a call's sensitive arguments, sealed for the run (the stored row shows them
 * redacted), bound to (tenant, user, call id): a bundle copied to another call, user or tenant, or into
 * a credential column, does not open, and no credential opens as arguments.
 */
export function sealCallArguments(keyring: Keyring, ids: CallIds, values: Record<string, unknown>): string {
  return seal(keyring, JSON.stringify(values), sealPurposes.call_arguments.context(ids));
}

/** Open what `sealCallArguments` made; fails (seal_invalid) for a bundle moved to another call. */
export function openCallArguments(keyring: Keyring, ids: CallIds, sealed: string): Record<string, unknown> {
  const value: unknown = JSON.parse(open(keyring, sealed, sealPurposes.call_arguments.context(ids)));
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw cryptoError('seal_malformed', 'sealed call arguments are not an object');
  return value as Record<string, unknown>;
}

/** A call's input responses, sealed for the run beside the row (tool_calls.sealed_input), bound to (tenant, user, call id). */
export function sealCallInput(keyring: Keyring, ids: CallIds, responses: Record<string, unknown>): string {
  return seal(keyring, JSON.stringify(responses), sealPurposes.call_input_responses.context(ids));
}

/** Open what `sealCallInput` made; fails (seal_invalid) for a bundle moved to another call. */
export function openCallInput(keyring: Keyring, ids: CallIds, sealed: string): Record<string, unknown> {
  const value: unknown = JSON.parse(open(keyring, sealed, sealPurposes.call_input_responses.context(ids)));
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw cryptoError('seal_malformed', 'sealed input responses are not an object');
  return value as Record<string, unknown>;
}

/** Who a request state belongs to: it opens only for the same tenant, user, OAuth client and tool. */
export interface RequestStateBinding {
  tenantId: string;
  userId: string;
  clientId: string | undefined;
  tool: string;
}

/** Seal a multi-round-trip request state (any JSON value; the caller validates what it opens). */
export function sealRequestState(keyring: Keyring, b: RequestStateBinding, payload: unknown): string {
  return seal(keyring, JSON.stringify(payload), sealPurposes.request_state.context(b));
}

/** Open a request state; throws (seal_malformed / seal_invalid / seal_unknown_key) for anything not sealed for this binding. */
export function openRequestState(keyring: Keyring, b: RequestStateBinding, sealed: string): unknown {
  return JSON.parse(open(keyring, sealed, sealPurposes.request_state.context(b))) as unknown;
}

/**
 * JSON with object keys sorted at every level: equal values give equal text whatever the key order
 * a client sent. Values are JSON already (validated arguments), so no cycles or exotic types.
 */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x === undefined ? null : x)).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

const HASH_VERSION = 'h1';
const derived = new WeakMap<Keyring, Map<string, Buffer>>();

/** A MAC key per keyring key, derived (HKDF) so the sealing key itself is never used for anything else. */
function macKey(keyring: Keyring, kid: string): Buffer | undefined {
  let perRing = derived.get(keyring);
  if (!perRing) derived.set(keyring, (perRing = new Map()));
  let k = perRing.get(kid);
  if (!k) {
    const key = keyring.keyFor(kid);
    if (!key) return undefined;
    k = Buffer.from(hkdfSync('sha256', key.export(), Buffer.alloc(0), 'mcprt.request-hash.v1', 32));
    perRing.set(kid, k);
  }
  return k;
}

const mac = (key: Buffer, tool: string, args: unknown): Buffer =>
  createHmac('sha256', key)
    .update(canonicalJson([tool, args]))
    .digest();

/**
 * What a request *is*, for idempotency: a keyed hash (HMAC-SHA256 under a key derived from the active
 * keyring key) of the canonical JSON of (tool, arguments), sensitive arguments included. Keyed, so a
 * low-entropy secret argument cannot be guessed offline from the stored hash. `h1.<kid>.<base64url>`.
 */
export function requestHash(keyring: Keyring, tool: string, args: unknown): string {
  const kid = keyring.activeKid;
  return `${HASH_VERSION}.${kid}.${mac(macKey(keyring, kid)!, tool, args).toString('base64url')}`;
}

/**
 * Whether (tool, args) is the request `stored` was made from: true/false, or undefined when that
 * cannot be told (malformed hash, or made under a key no longer in the keyring).
 */
export function requestHashMatches(keyring: Keyring, stored: string, tool: string, args: unknown): boolean | undefined {
  const parts = stored.split('.');
  if (parts.length !== 3 || parts[0] !== HASH_VERSION) return undefined;
  const key = macKey(keyring, parts[1]!);
  if (!key) return undefined;
  const want = Buffer.from(parts[2]!, 'base64url');
  const got = mac(key, tool, args);
  return want.length === got.length && timingSafeEqual(want, got);
}
