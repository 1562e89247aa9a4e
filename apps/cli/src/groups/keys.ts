import { keysGenerate } from '../commands/keys-generate.js';
import { keysRotate } from '../commands/keys-rotate.js';
import { str, type CommandGroup } from '../command.js';

/** `keys …`: the sealing keys (SEAL_KEYS): make a new one, re-seal everything under the active one. */
export const keysCommands: CommandGroup = {
  'keys generate': {
    usage: 'keys generate [--kid <kid>]',
    summary: 'print a new kid:key entry for SEAL_KEYS (and how to roll it out)',
    details: ['--kid      key id (default k + UTC yyyymmddHHMM)'],
    options: { kid: { type: 'string' } },
    configOptional: true,
    run: async ({ values: v, config, out, err }) => (keysGenerate({ out, err, config }, { kid: str(v, 'kid') }), 0),
  },
  'keys rotate': {
    usage: 'keys rotate [--batch 500] [--tenant <slug>]',
    summary:
      're-seal stored credentials and tenant secrets (IdP/provider client secrets, Scavio keys, AS signing keys, AS stored clients, grants and sessions) under the active key; exit 1 if any cannot be opened',
    details: ['--batch    rows per query (default 500)', '--tenant   only this tenant (default: all)'],
    options: { batch: { type: 'string' }, tenant: { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await keysRotate(res, { batch: str(v, 'batch'), tenant: str(v, 'tenant') })).exitCode),
  },
};
