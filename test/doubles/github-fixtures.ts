/**
 * GitHub fixtures: users (the docs/upstream-apis.md §5.1 profile), repositories with files per ref, and who may reach them.
 * Repositories live in one registry per double (a repo is shared: bob may collaborate on alice's);
 * a token sees what its user may see, as on GitHub: public repos to anyone, private ones to their
 * owner, collaborators and (for an organization's repos) its members — and only with the `repo` scope.
 */
import { createHash } from 'node:crypto';

export interface GithubUser {
  login: string;
  id: number;
  name?: string | null;
  company?: string | null;
  blog?: string | null;
  location?: string | null;
  /** Public email, null unless public (§5.1). */
  email?: string | null;
  bio?: string | null;
  hireable?: boolean | null;
  twitter_username?: string | null;
  followers?: number;
  following?: number;
  public_gists?: number;
  private_gists?: number;
  disk_usage?: number;
  collaborators?: number;
  two_factor_authentication?: boolean;
  plan?: { name: string; space: number; private_repos: number; collaborators: number };
  created_at?: string;
  updated_at?: string;
}

/** A file at a ref: text, bytes, a symlink, a submodule, or `generated` bytes (for size limits without the memory). */
export type GithubEntry = string | Buffer | { symlink: string } | { submodule: string } | { generated: number };

export interface GithubRepo {
  id: number;
  owner: { login: string; id: number; type: 'User' | 'Organization' };
  name: string;
  private: boolean;
  description: string | null;
  default_branch: string;
  created_at: string;
  updated_at: string;
  pushed_at: string;
  /** Logins with collaborator access. */
  collaborators: string[];
  /** For an Organization owner: logins of its members (who get `organization_member` affiliation). */
  members: string[];
  /** Files per ref (branch or tag name); commit SHAs of each ref (see `refSha`) also resolve. */
  refs: Record<string, Record<string, GithubEntry>>;
}

export type Affiliation = 'owner' | 'collaborator' | 'organization_member';

export interface GithubAccount {
  user: GithubUser;
}

let nextRepoId = 1000;

export interface GithubRepoSpec {
  owner: string;
  ownerId?: number;
  ownerType?: 'User' | 'Organization';
  name: string;
  private?: boolean;
  description?: string | null;
  default_branch?: string;
  /** ISO timestamps; `updated_at` and `pushed_at` default to `created_at`. */
  created_at?: string;
  updated_at?: string;
  pushed_at?: string;
  collaborators?: string[];
  members?: string[];
  /** Files of the default branch. */
  files?: Record<string, GithubEntry>;
  /** Other refs (branches, tags) and their files. */
  refs?: Record<string, Record<string, GithubEntry>>;
}

export function githubRepo(spec: GithubRepoSpec): GithubRepo {
  const branch = spec.default_branch ?? 'main';
  const created = spec.created_at ?? '2026-01-01T00:00:00Z';
  nextRepoId += 1;
  return {
    id: nextRepoId,
    owner: { login: spec.owner, id: spec.ownerId ?? 1, type: spec.ownerType ?? 'User' },
    name: spec.name,
    private: spec.private ?? false,
    description: spec.description ?? null,
    default_branch: branch,
    created_at: created,
    updated_at: spec.updated_at ?? created,
    pushed_at: spec.pushed_at ?? spec.updated_at ?? created,
    collaborators: spec.collaborators ?? [],
    members: spec.members ?? [],
    refs: { [branch]: spec.files ?? {}, ...spec.refs },
  };
}

export function affiliationOf(repo: GithubRepo, login: string): Affiliation | undefined {
  if (repo.owner.login === login) return 'owner';
  if (repo.collaborators.includes(login)) return 'collaborator';
  if (repo.owner.type === 'Organization' && repo.members.includes(login)) return 'organization_member';
  return undefined;
}

export const fullName = (repo: GithubRepo): string => `${repo.owner.login}/${repo.name}`;

/** A stable fake commit SHA for a ref; the contents endpoint resolves it like the ref name. */
export function refSha(repo: GithubRepo, ref: string): string {
  return sha1(`commit ${fullName(repo)} ${ref}`);
}

/** Whether an entry is a file with bytes (not a symlink or submodule); never allocates. */
export function hasBytes(entry: GithubEntry): boolean {
  return typeof entry === 'string' || Buffer.isBuffer(entry) || 'generated' in entry;
}

/** The bytes of a file entry (symlinks and submodules have none). */
export function bytesOf(entry: GithubEntry): Buffer | undefined {
  if (typeof entry === 'string') return Buffer.from(entry, 'utf8');
  if (Buffer.isBuffer(entry)) return entry;
  if ('generated' in entry) return Buffer.alloc(entry.generated, 0x61);
  return undefined;
}

export function sizeOf(entry: GithubEntry): number {
  if (typeof entry === 'object' && !Buffer.isBuffer(entry)) {
    if ('generated' in entry) return entry.generated;
    if ('symlink' in entry) return Buffer.byteLength(entry.symlink);
    return 0;
  }
  return bytesOf(entry)!.length;
}

/** Git's blob SHA-1 (`blob <size>\0<bytes>`), so `sha` is what git itself would say. */
export function blobSha(entry: GithubEntry): string {
  if (typeof entry === 'object' && !Buffer.isBuffer(entry)) {
    if ('generated' in entry) return sha1(`generated ${entry.generated}`);
    return sha1('symlink' in entry ? `symlink ${entry.symlink}` : `submodule ${entry.submodule}`);
  }
  const bytes = bytesOf(entry)!;
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}
