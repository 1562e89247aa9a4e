/**
 * `GET /repos/{owner}/{repo}/contents/{path}?ref=` (docs/upstream-apis.md §5.4).
 * - `ref` omitted → the default branch; a branch/tag name or a ref's commit SHA (`refSha`) resolves;
 *   a missing ref or path → 404.
 * - File: `{type:"file", encoding:"base64", size, name, path, content, sha, url, git_url, html_url,
 *   download_url, _links}`; `content` is base64 in 60-character lines, each ending in `\n` (the
 *   reference says "with \n line breaks"; 60 is what GitHub's encoder writes).
 * - Directory: an array of entries (at most 1,000); submodules listed as `type:"file"`;
 *   `Accept: application/vnd.github.object+json` → `{type:"dir", …, entries:[…]}`.
 * - Symlink to a file in the repo → that file's response; otherwise `{type:"symlink", target, …}`.
 *   Submodule → `{type:"submodule", submodule_git_url, …}`.
 * - Size: up to 1 MB served in full; 1–100 MB → `content:""`, `encoding:"none"` (marked unconfirmed in
 *   §5.4), or raw bytes with `Accept: application/vnd.github.raw+json`; over 100 MB → 403 (the
 *   reference says "unsupported" without a status). The raw answer's content type is not in the
 *   reference: `application/octet-stream`.
 */
import { missingScope, notFound, basicError } from './github-errors.js';
import type { Viewer } from './github-access.js';
import { accessTo } from './github-access.js';
import type { GithubEntry, GithubRepo } from './github-fixtures.js';
import { blobSha, bytesOf, fullName, hasBytes, refSha, sizeOf } from './github-fixtures.js';
import type { Reply } from './http-double.js';
import { ReplyError } from './http-double.js';

const ONE_MB = 1024 * 1024;
const HUNDRED_MB = 100 * ONE_MB;
const MAX_DIR_ENTRIES = 1000;

export interface ContentsRequest {
  repo: GithubRepo;
  path: string;
  ref: string | null;
  accept: string;
  viewer: Viewer;
  base: string;
  scopeDenial: 403 | 404;
}

export function getContents(req: ContentsRequest): Reply {
  const { repo, viewer } = req;
  const access = accessTo(repo, viewer);
  // A private repo the user cannot reach is indistinguishable from a missing one (404).
  if (access === 'hidden') throw notFound();
  if (access === 'needs-scope') throw missingScope(viewer.scopes, 'repo', req.scopeDenial);
  const refName = resolveRef(repo, req.ref);
  if (refName === undefined) throw notFound();
  const files = repo.refs[refName]!;
  const path = normalize(req.path);
  if (path === undefined) throw notFound();
  const ctx = { repo, refName, base: req.base };

  const entry = path === '' ? undefined : files[path];
  if (entry !== undefined) return fileReply(ctx, path, entry, files, req.accept);
  const prefix = path === '' ? '' : `${path}/`;
  const children = childrenOf(files, prefix);
  if (children.length === 0) throw notFound();
  const entries = children.slice(0, MAX_DIR_ENTRIES).map((c) => entryFields(ctx, c.path, c.entry));
  if (req.accept.includes('application/vnd.github.object')) {
    const name = path.split('/').at(-1) ?? '';
    return { status: 200, body: { type: 'dir', name, path, sha: refSha(repo, `${refName}:${path}`), size: 0, ...links(ctx, path, 'tree'), entries } };
  }
  return { status: 200, body: entries };
}

interface Ctx {
  repo: GithubRepo;
  refName: string;
  base: string;
}

function fileReply(ctx: Ctx, path: string, entry: GithubEntry, files: Record<string, GithubEntry>, accept: string): Reply {
  if (typeof entry === 'object' && !Buffer.isBuffer(entry) && 'symlink' in entry) {
    const target = normalize(joinPath(path, entry.symlink));
    const targetEntry = target === undefined ? undefined : files[target];
    if (target !== undefined && targetEntry !== undefined && hasBytes(targetEntry)) return fileReply(ctx, target, targetEntry, files, accept);
    return { status: 200, body: { ...entryFields(ctx, path, entry), target: entry.symlink } };
  }
  if (typeof entry === 'object' && !Buffer.isBuffer(entry) && 'submodule' in entry) {
    return { status: 200, body: { ...entryFields(ctx, path, entry), type: 'submodule', submodule_git_url: entry.submodule } };
  }
  const size = sizeOf(entry);
  if (size > HUNDRED_MB)
    throw new ReplyError(basicError(403, 'This API returns blobs up to 100 MB in size. The requested blob is too large to fetch via the API.'));
  if (accept.includes('application/vnd.github.raw')) {
    return { status: 200, headers: { 'content-type': 'application/octet-stream' }, raw: bytesOf(entry)! };
  }
  const tooLarge = size > ONE_MB;
  return {
    status: 200,
    body: {
      ...entryFields(ctx, path, entry),
      encoding: tooLarge ? 'none' : 'base64',
      content: tooLarge ? '' : wrap60(bytesOf(entry)!.toString('base64')),
    },
  };
}

function entryFields(ctx: Ctx, path: string, entry: GithubEntry | 'dir'): Record<string, unknown> {
  const type = entry === 'dir' ? 'dir' : typeof entry === 'object' && !Buffer.isBuffer(entry) && 'symlink' in entry ? 'symlink' : 'file';
  const sha = entry === 'dir' ? refSha(ctx.repo, `${ctx.refName}:${path}`) : blobSha(entry);
  const repo = fullName(ctx.repo);
  return {
    type,
    name: path.split('/').at(-1),
    path,
    sha,
    size: entry === 'dir' ? 0 : sizeOf(entry),
    url: `${ctx.base}/repos/${repo}/contents/${path}?ref=${encodeURIComponent(ctx.refName)}`,
    git_url: `${ctx.base}/repos/${repo}/git/${entry === 'dir' ? 'trees' : 'blobs'}/${sha}`,
    html_url: `https://github.com/${repo}/${entry === 'dir' ? 'tree' : 'blob'}/${ctx.refName}/${path}`,
    download_url: entry !== 'dir' && hasBytes(entry) ? `https://raw.githubusercontent.com/${repo}/${ctx.refName}/${path}` : null,
    ...links(ctx, path, entry === 'dir' ? 'tree' : 'blob', sha),
  };
}

function links(ctx: Ctx, path: string, kind: 'tree' | 'blob', sha = refSha(ctx.repo, `${ctx.refName}:${path}`)): { _links: Record<string, string> } {
  const repo = fullName(ctx.repo);
  return {
    _links: {
      self: `${ctx.base}/repos/${repo}/contents/${path}?ref=${encodeURIComponent(ctx.refName)}`,
      git: `${ctx.base}/repos/${repo}/git/${kind === 'tree' ? 'trees' : 'blobs'}/${sha}`,
      html: `https://github.com/${repo}/${kind}/${ctx.refName}/${path}`,
    },
  };
}

function childrenOf(files: Record<string, GithubEntry>, prefix: string): Array<{ path: string; entry: GithubEntry | 'dir' }> {
  const out = new Map<string, GithubEntry | 'dir'>();
  for (const [path, entry] of Object.entries(files)) {
    if (!path.startsWith(prefix)) continue;
    const rest = path.slice(prefix.length);
    const slash = rest.indexOf('/');
    if (slash < 0) out.set(path, entry);
    else out.set(prefix + rest.slice(0, slash), 'dir');
  }
  return [...out.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([path, entry]) => ({ path, entry }));
}

function resolveRef(repo: GithubRepo, ref: string | null): string | undefined {
  if (ref === null || ref === '') return repo.default_branch;
  if (repo.refs[ref]) return ref;
  return Object.keys(repo.refs).find((name) => refSha(repo, name) === ref);
}

/** Collapses `.` and empty segments; `..` above the root (or anywhere) is refused as not found. */
function normalize(path: string): string | undefined {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return undefined;
  return parts.join('/');
}

function joinPath(from: string, target: string): string {
  if (target.startsWith('/')) return target;
  const dir = from.split('/').slice(0, -1);
  for (const part of target.split('/')) {
    if (part === '..') dir.pop();
    else if (part !== '.') dir.push(part);
  }
  return dir.join('/');
}

function wrap60(base64: string): string {
  return base64.replace(/.{1,60}/g, '$&\n');
}
