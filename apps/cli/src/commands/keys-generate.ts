import type { Config } from '@mcprt/config';
import { formatKeyring, generateKey, parseKeyringEntries, type KeyEntry } from '@mcprt/keyring';
import { parseKid } from '../args.js';
import { UsageError, hint, type CliResources } from '../resources.js';

const pad = (n: number) => String(n).padStart(2, '0');

/** `k` + yyyymmddHHMM (UTC). */
export const defaultKid = (now: Date): string =>
  `k${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}`;

export interface KeysGenerateResources extends Pick<CliResources, 'out' | 'err'> {
  /** The current configuration, when there is one (this command also runs before SEAL_KEYS exists). */
  config?: Pick<Config, 'SEAL_KEYS' | 'SEAL_ACTIVE_KID'> | undefined;
}

/**
 * `keys generate`: prints a new `kid:key` entry (stdout) and how to add it (stderr). Never prints
 * the keys already configured.
 */
export function keysGenerate(res: KeysGenerateResources, input: { kid?: string; now?: Date } = {}): { entry: KeyEntry } {
  const kid = parseKid(input.kid ?? defaultKid(input.now ?? new Date()));
  const entry: KeyEntry = { kid, key: generateKey() };
  parseKeyringEntries(`${entry.kid}:${entry.key}`); // validated by the crypto package too

  const current = res.config ? parseKeyringEntries(res.config.SEAL_KEYS) : [];
  if (current.some((e) => e.kid === kid)) throw new UsageError(`key id "${kid}" is already in SEAL_KEYS; pass another --kid`);
  const line = formatKeyring([entry]);
  res.out(line);

  if (current.length === 0) {
    hint(res, '# SEAL_KEYS is not set yet: put this in the environment of the api, worker and cli:');
    hint(res, `#   SEAL_KEYS=${line}`);
    return { entry };
  }
  formatKeyring([...current, entry]); // the combined keyring is valid
  const active = res.config?.SEAL_ACTIVE_KID ?? current[current.length - 1]!.kid;
  hint(res, `# SEAL_KEYS now holds ${current.map((e) => e.kid).join(', ')} (active ${active}). Append the new entry:`);
  hint(res, `#   SEAL_KEYS="$SEAL_KEYS,${line}"`);
  hint(res, `# 1. Deploy it with SEAL_ACTIVE_KID=${active} to every api and worker, so all of them can open values sealed with ${kid};`);
  hint(res, `# 2. then set SEAL_ACTIVE_KID=${kid} (or unset it: the last key is active) and restart them;`);
  hint(res, '# 3. run `pnpm cli keys rotate` to re-seal stored credentials under the new key;');
  hint(res, '# 4. remove the old key only after rotate reports failed=0 and nothing is left to re-seal.');
  return { entry };
}
