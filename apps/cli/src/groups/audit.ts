import { auditVerify, auditVerifyExport } from '../commands/audit-verify.js';
import { str, type CommandGroup } from '../command.js';

/** `audit …`: check a tenant's signed audit trail, online or from an export. */
export const auditCommands: CommandGroup = {
  'audit verify': {
    usage: 'audit verify --slug <slug> [--since <ISO time>]',
    summary: "recompute the tenant's signed audit checkpoints; names the first missing, altered or reordered row (exit 1)",
    details: ['--since    check rows from the first checkpoint reaching this time (the chain of checkpoints is always checked whole)'],
    options: { slug: { type: 'string' }, since: { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await auditVerify(res, { slug: str(v, 'slug'), since: str(v, 'since') })).exitCode),
  },
  'audit verify-export': {
    usage: 'audit verify-export --file <export.ndjson> --keys <audit-keys.json>',
    summary: 'offline: verify an NDJSON audit export with the published public keys only (no database, no config)',
    details: ['--keys     the JSON served at /t/<slug>/v1/audit-keys, saved beforehand'],
    options: { file: { type: 'string' }, keys: { type: 'string' } },
    configOptional: true,
    run: async ({ values: v, out }) => (await auditVerifyExport({ out }, { file: str(v, 'file'), keys: str(v, 'keys') })).exitCode,
  },
};
