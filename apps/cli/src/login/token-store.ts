import { closeSync, constants, fchmodSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
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

/** The POSIX uid of this process; undefined where there is none (Windows: no owner or mode bits to check). */
const myUid = (): number | undefined => (typeof process.getuid === 'function' ? process.getuid() : undefined);
/** 0 where the platform has no such flag (Windows). */
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const O_DIRECTORY = constants.O_DIRECTORY ?? 0;
/** Opening a planted FIFO for reading must not block: it is refused after fstat like any non-regular file. */
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;
const errno = (e: unknown) => (e as NodeJS.ErrnoException).code;

/**
 * The directory the token file lives in, made private before anything is read from or written to it:
 * created 0700 if missing; an existing one of ours with a wider mode is tightened to 0700 (mkdir
 * leaves an existing directory's mode alone); one that belongs to another user is refused (its owner
 * could read or swap the tokens). Checked and changed through one open descriptor, so what is checked
 * is what is changed. Returns whether the mode had to be tightened.
 */
function ensurePrivateDir(dir: string): boolean {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const me = myUid();
  if (me === undefined) return false;
  const fd = openSync(dir, constants.O_RDONLY | O_DIRECTORY);
  try {
    const st = fstatSync(fd);
    if (!st.isDirectory()) throw new CliError(`${dir} is not a directory`);
    if (st.uid !== me)
      throw new CliError(
        `${dir} belongs to uid ${st.uid}, not to you (uid ${me}): refusing to keep OAuth tokens there. Use a directory of your own (MCPRT_CONFIG_DIR).`,
      );
    // A sticky directory (/tmp and the like) is shared by design: not ours to close, nor a place for tokens.
    if ((st.mode & 0o1000) !== 0)
      throw new CliError(`${dir} is a shared directory (sticky bit): refusing to keep OAuth tokens there. Use a directory of your own (MCPRT_CONFIG_DIR).`);
    if ((st.mode & 0o077) === 0) return false;
    fchmodSync(fd, 0o700);
    return true;
  } finally {
    closeSync(fd);
  }
}

export class TokenStore {
  readonly path: string;
  #data: z.infer<typeof file>;
  /** Set when the existing file or its directory had a wider mode than 0600 / 0700 (fixed on open). */
  readonly loosened: boolean;

  private constructor(path: string, data: z.infer<typeof file>, loosened: boolean) {
    this.path = path;
    this.#data = data;
    this.loosened = loosened;
  }

  /**
   * Opens the token file of `dir` (the directory made private first). The file is opened without
   * following a symbolic link and checked through that descriptor: a regular file of ours, its mode
   * tightened to 0600 if it was wider. A link, another kind of file or another user's file is refused.
   */
  static open(dir: string): TokenStore {
    const dirLoosened = ensurePrivateDir(dir);
    const path = join(dir, TOKEN_FILE);
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (e) {
      if (errno(e) === 'ENOENT') return new TokenStore(path, { version: 1, servers: {} }, dirLoosened);
      if (errno(e) === 'ELOOP') throw new CliError(`${path} is a symbolic link; refusing to follow it. Delete it to sign in again.`);
      throw e;
    }
    let text: string;
    let loosened = dirLoosened;
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new CliError(`${path} is not a regular file; delete it to sign in again`);
      const me = myUid();
      if (me !== undefined && st.uid !== me) throw new CliError(`${path} belongs to uid ${st.uid}, not to you (uid ${me}); delete it to sign in again`);
      // A second name for some other file (a hard link planted while the directory was open).
      if (st.nlink > 1) throw new CliError(`${path} has other links to it; delete it to sign in again`);
      if ((st.mode & 0o077) !== 0) {
        fchmodSync(fd, 0o600);
        loosened = true;
      }
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
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

  /**
   * Written whole to a temporary file then renamed over the old one: never half a file, never readable
   * by others. The temporary file is created exclusively (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600): an
   * entry already at its name — a stale one, or a symbolic link someone planted while the directory was
   * still open to them — is never written through; it is removed (removing a link leaves its target
   * alone) and the file created afresh. The rename replaces the name, not what a link there points to.
   */
  #save(): void {
    ensurePrivateDir(dirname(this.path));
    const tmp = `${this.path}.${process.pid}.tmp`;
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW;
    let fd: number;
    try {
      fd = openSync(tmp, flags, 0o600);
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw e;
      try {
        unlinkSync(tmp);
      } catch (cause) {
        throw new CliError(`${tmp} is in the way and cannot be removed (${errno(cause) ?? String(cause)})`);
      }
      fd = openSync(tmp, flags, 0o600);
    }
    try {
      fchmodSync(fd, 0o600);
      writeFileSync(fd, `${JSON.stringify(this.#data, null, 2)}\n`);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }
}
