/**
 * `GET /search/code` (docs/upstream-apis.md §5.3). `q` = terms plus qualifiers: `repo:owner/name`,
 * `user:login`, `org:name`, `in:file`, `in:path`, `path:`, `filename:`, `extension:`, `language:`
 * (from the file extension, for the few languages listed below). `size:` is not served (422).
 * Rules kept: at least one term; at most 256 characters; only the default branch; only files under
 * 384 KB; at most 1,000 results; a repo/user/org you cannot access → 422 "Validation Failed".
 * All terms must match (AND); default scope is file content or path. Binary files never match.
 */
import type { Viewer } from './github-access.js';
import { accessTo } from './github-access.js';
import { missingScope, validationFailed } from './github-errors.js';
import type { GithubRepo } from './github-fixtures.js';
import { blobSha, bytesOf, fullName, hasBytes, refSha, sizeOf } from './github-fixtures.js';
import { renderSearchRepo } from './github-render.js';

const MAX_FILE = 384 * 1024;
export const MAX_SEARCH_RESULTS = 1000;
const LANGUAGES: Record<string, string[]> = {
  typescript: ['ts', 'tsx'],
  javascript: ['js', 'mjs', 'cjs'],
  python: ['py'],
  go: ['go'],
  markdown: ['md'],
  json: ['json'],
};

interface Parsed {
  terms: string[];
  repos: string[];
  owners: string[];
  in: Set<'file' | 'path'>;
  filters: Array<(path: string) => boolean>;
}

export interface CodeHit {
  repo: GithubRepo;
  path: string;
  item: Record<string, unknown>;
}

export function searchCode(q: string | null, repos: GithubRepo[], viewer: Viewer, base: string, scopeDenial: 403 | 404): CodeHit[] {
  if (q === null || q.trim() === '') throw validationFailed([{ resource: 'Search', field: 'q', code: 'missing' }]);
  const parsed = parse(q);
  if (parsed.terms.length === 0 || parsed.terms.join(' ').length > 256) {
    throw validationFailed([{ resource: 'Search', field: 'q', code: 'invalid' }]);
  }
  for (const name of parsed.repos) {
    const repo = repos.find((r) => fullName(r).toLowerCase() === name.toLowerCase());
    const access = repo ? accessTo(repo, viewer) : 'hidden';
    if (access === 'needs-scope') throw missingScope(viewer.scopes, 'repo', scopeDenial);
    if (access === 'hidden') throw cannotSearch(name);
  }
  for (const owner of parsed.owners) {
    if (!repos.some((r) => r.owner.login.toLowerCase() === owner.toLowerCase())) throw cannotSearch(owner);
  }
  const hits: CodeHit[] = [];
  const searchable = repos
    .filter((r) => accessTo(r, viewer) === 'visible')
    .filter((r) => parsed.repos.length === 0 || parsed.repos.some((n) => n.toLowerCase() === fullName(r).toLowerCase()))
    .filter((r) => parsed.owners.length === 0 || parsed.owners.some((o) => o.toLowerCase() === r.owner.login.toLowerCase()))
    .sort((a, b) => fullName(a).localeCompare(fullName(b)));
  for (const repo of searchable) {
    const files = repo.refs[repo.default_branch] ?? {};
    for (const path of Object.keys(files).sort()) {
      const entry = files[path]!;
      if (!hasBytes(entry) || sizeOf(entry) >= MAX_FILE) continue;
      const bytes = bytesOf(entry)!;
      if (bytes.includes(0)) continue;
      if (!parsed.filters.every((f) => f(path))) continue;
      const content = bytes.toString('utf8').toLowerCase();
      const lowerPath = path.toLowerCase();
      const matches = parsed.terms.every((t) => (parsed.in.has('file') && content.includes(t)) || (parsed.in.has('path') && lowerPath.includes(t)));
      if (matches) hits.push({ repo, path, item: renderItem(repo, path, blobSha(entry), base) });
    }
  }
  return hits;
}

function renderItem(repo: GithubRepo, path: string, sha: string, base: string): Record<string, unknown> {
  const commit = refSha(repo, repo.default_branch);
  return {
    name: path.split('/').at(-1),
    path,
    sha,
    url: `${base}/repos/${fullName(repo)}/contents/${path}?ref=${commit}`,
    git_url: `${base}/repos/${fullName(repo)}/git/blobs/${sha}`,
    html_url: `https://github.com/${fullName(repo)}/blob/${commit}/${path}`,
    repository: renderSearchRepo(repo),
    score: 1.0,
  };
}

function cannotSearch(name: string): ReturnType<typeof validationFailed> {
  return validationFailed([
    {
      resource: 'Search',
      field: 'q',
      code: 'invalid',
      message: `The listed users and repositories cannot be searched either because the resources do not exist or you do not have permission to view them. (${name})`,
    },
  ]);
}

function parse(q: string): Parsed {
  const parsed: Parsed = { terms: [], repos: [], owners: [], in: new Set(), filters: [] };
  for (const token of q.match(/\w+:"[^"]*"|"[^"]*"|\S+/g) ?? []) {
    const op = /^(\w+):(.+)$/.exec(token);
    const value = (op?.[2] ?? '').replace(/^"|"$/g, '');
    switch (op?.[1]?.toLowerCase()) {
      case 'repo':
        parsed.repos.push(value);
        break;
      case 'user':
      case 'org':
        parsed.owners.push(value);
        break;
      case 'in':
        for (const where of value.split(',')) if (where === 'file' || where === 'path') parsed.in.add(where);
        break;
      case 'path':
        parsed.filters.push((p) => p.toLowerCase().startsWith(value.toLowerCase().replace(/^\//, '')));
        break;
      case 'filename':
        parsed.filters.push((p) => p.split('/').at(-1)!.toLowerCase() === value.toLowerCase());
        break;
      case 'extension':
        parsed.filters.push((p) => p.toLowerCase().endsWith(`.${value.toLowerCase()}`));
        break;
      case 'language': {
        const exts = LANGUAGES[value.toLowerCase()] ?? [];
        parsed.filters.push((p) => exts.some((e) => p.toLowerCase().endsWith(`.${e}`)));
        break;
      }
      case 'size':
        throw validationFailed([{ resource: 'Search', field: 'q', code: 'invalid', message: 'size: is not served by the test double' }]);
      default:
        parsed.terms.push(token.replace(/^"|"$/g, '').toLowerCase());
    }
  }
  if (parsed.in.size === 0) parsed.in = new Set(['file', 'path']);
  return parsed;
}
