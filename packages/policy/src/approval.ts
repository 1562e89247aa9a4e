import { z } from 'zod';

/**
 * Approval before a sensitive call runs: the tenant's rules, and the one function that says whether
 * a call needs a person's approval and whose. Plain data in, a decision out, like the rest of this
 * package; the engine records such a call as `awaiting_approval` and never enqueues it until approved.
 */

/** Who may approve: the user the call runs for (`user`), or one of the tenant's approvers (`tenant`, a tenant API key with `calls:approve`). */
export const APPROVERS = ['user', 'tenant'] as const;
export type Approver = (typeof APPROVERS)[number];

/** A top-level argument compared for equality: a string, number or boolean (what rules can state safely). */
const conditionValue = z.union([z.string().max(500), z.number(), z.boolean()]);

/**
 * One rule: calls of `tool` need approval by `approver`; with `when`, only calls whose top-level
 * argument `argument` equals `equals` (e.g. `send_email` only when `to` is outside the company is
 * out of scope: equality only, stated plainly).
 */
export const approvalRuleSchema = z.strictObject({
  tool: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'a tool name (a-z, 0-9, _)'),
  approver: z.enum(APPROVERS),
  when: z.strictObject({ argument: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/), equals: conditionValue }).optional(),
});
export type ApprovalRule = z.infer<typeof approvalRuleSchema>;

/** A tenant's rules: at most 100, first match wins. */
export const approvalRulesSchema = z.array(approvalRuleSchema).max(100);

/** How long a call waits for its approval before it fails as expired (the default; APPROVAL_TTL_S sets it). */
export const DEFAULT_APPROVAL_TTL_S = 900;

/** The rule that makes this call wait for approval (the first that matches), or undefined: it runs at once. */
export function approvalNeeded(rules: readonly ApprovalRule[], tool: string, args: Readonly<Record<string, unknown>>): ApprovalRule | undefined {
  return rules.find((r) => r.tool === tool && (r.when === undefined || args[r.when.argument] === r.when.equals));
}
