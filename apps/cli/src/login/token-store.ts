import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { CliError } from '../resources.js';

/**
 * Where `mcp call --login` keeps what it learned: one JSON file under the user's config directory
 * (`$MCPRT_CONFIG_DIR`, else `$XDG_CONFIG_HOME/mcprt`, else `~/.config/mcprt`), mode 0600 in a 0700
 * directory, like other CLIs keep their OAuth tokens. Per MCP server URL: the client registration
 * (shared by every user of this CLI), the discovery state, and per user label the token set.
 */
export function defaultConfigDir(env: Record<string, string | undefined>): string {
  if (env.MCPRT_CONFIG_DIR) return env.MCPRT_CONFIG_DIR;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'mcprt');
}

export const TOKEN_FILE = 'oauth-tokens.json';

// What the SDK hands us: kept as it gave it (passthrough), checked only for the fields we rely on.
const tokens = z.looseObject({ access_token: z.string().min(1), token_type: z.string(), refresh_token: z.string().optional(), scope: z.string().optional() });
const client = z.looseObject({ client_id: z.string().min(1) });
const server = z.object({
  client: client.optional(),
  discovery: z.record(z.string(), z.unknown()).optional(),
  users: z.record(z.string(), tokens).default({}),
});
const file = z.object({ version: z.literal(1), servers: z.record(z.string(), server) });
export type StoredTokens = z.infer<typeof tokens>;
export type StoredClient = z.infer<typeof client>;
type ServerEntry = z.infer<typeof server>;

export class TokenStore {
  readonly path: string;
  #data: z.infer<typeof file>;
  /** Set when an existing file had looser permissions than 0600 (fixed on open). */
  readonly loosened: boolean;

  private constructor(path: string, data: z.infer<typeof file>, loosened: boolean) {
    this.path = path;
    this.#data = data;
    this.loosened = loosened;
  }

  static open(dir: string): TokenStore {
    const path = join(dir, TOKEN_FILE);
    if (!existsSync(path)) return new TokenStore(path, { version: 1, servers: {} }, false);
    const mode = statSync(path).mode & 0o777;
    const loosened = (mode & 0o077) !== 0;
    if (loosened) chmodSync(path, 0o600);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      parsed = undefined;
    }
    const checked = file.safeParse(parsed);
    if (!checked.success) throw new CliError(`${path} is not a token file this CLI wrote; delete it to sign in again`);
    return new TokenStore(path, checked.data, loosened);
  }

  #server(url: string): ServerEntry {
    return (this.#data.servers[url] ??= { users: {} });
  }

  client(url: string): StoredClient | undefined {
    return this.#data.servers[url]?.client;
  }
  discovery(url: string): Record<string, unknown> | undefined {
    return this.#data.servers[url]?.discovery;
  }
  tokens(url: string, user: string): StoredTokens | undefined {
    return this.#data.servers[url]?.users[user];
  }

  setClient(url: string, info: StoredClient | undefined): void {
    const s = this.#server(url);
    if (info) s.client = info;
    else delete s.client;
    this.#save();
  }
  setDiscovery(url: string, state: Record<string, unknown> | undefined): void {
    const s = this.#server(url);
    if (state) s.discovery = state;
    else delete s.discovery;
    this.#save();
  }
  setTokens(url: string, user: string, t: StoredTokens | undefined): void {
    const s = this.#server(url);
    if (t) s.users[user] = t;
    else delete s.users[user];
    this.#save();
  }

  /** Written whole to a temporary file (0600) then renamed over the old one: never half a file, never readable by others. */
  #save(): void {
    const dir = join(this.path, '..');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.#data, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}
