import { createHash } from 'node:crypto';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { githubRepo, refSha } from './github-fixtures.js';
import type { GithubRepo } from './github-fixtures.js';
import { startGithubDouble } from './github.js';
import type { GithubDouble } from './github.js';

// Section numbers (§n) in the test names are those of docs/upstream-apis.md, where each shape is sourced.

const ALICE = 'gho_alice';
const ALICE_PUBLIC = 'gho_alice_public_repo_only';
const BOB = 'gho_bob';

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d]);
const README = '# Secret plans\nlaunch codes: hunter2\n';

function fixtures(): GithubRepo[] {
  return [
    githubRepo({
      owner: 'alice',
      name: 'secret-plans',
      private: true,
      description: 'Plans',
      created_at: '2026-03-01T00:00:00Z',
      updated_at: '2026-11-01T00:00:00Z',
      files: {
        'README.md': README,
        'src/index.ts': "export const launch = 'soon';\n",
        'src/util/math.ts': 'export const add = (a: number, b: number) => a + b;\n',
        'docs/guide.md': 'A guide to launch day.\n',
        'image.png': PNG,
        'big.bin': { generated: 1_500_000 },
        'huge.iso': { generated: 101 * 1024 * 1024 },
        'readme-link': { symlink: 'README.md' },
        'escape-link': { symlink: '../../etc/passwd' },
        'vendor/lib': { submodule: 'https://github.com/acme/lib.git' },
      },
      refs: { v1: { 'README.md': '# Old plans\n' } },
    }),
    githubRepo({
      owner: 'alice',
      name: 'public-notes',
      created_at: '2026-02-01T00:00:00Z',
      updated_at: '2026-10-01T00:00:00Z',
      files: { 'notes.md': 'launch notes\n' },
    }),
    githubRepo({
      owner: 'acme',
      ownerType: 'Organization',
      name: 'platform',
      private: true,
      members: ['alice'],
      created_at: '2026-01-15T00:00:00Z',
      files: { 'main.go': 'package main // launch\n' },
    }),
    githubRepo({ owner: 'bob', name: 'diary', private: true, created_at: '2026-04-01T00:00:00Z', files: { 'entry.md': 'bob secret launch diary\n' } }),
    githubRepo({
      owner: 'bob',
      name: 'shared',
      private: true,
      collaborators: ['alice'],
      created_at: '2026-05-01T00:00:00Z',
      files: { 'x.md': 'shared launch\n' },
    }),
    ...Array.from({ length: 12 }, (_, i) =>
      githubRepo({
        owner: 'alice',
        name: `pkg-${String(i).padStart(2, '0')}`,
        created_at: `2025-01-${String(i + 1).padStart(2, '0')}T00:00:00Z`,
        files: { 'index.js': `module.exports = ${i};\n` },
      }),
    ),
  ];
}

describe('GitHub double', () => {
  let gh: GithubDouble;

  beforeAll(async () => {
    gh = await startGithubDouble({ repos: fixtures() });
    gh.addUser(ALICE, { scopes: ['repo', 'read:user'], data: { user: { login: 'alice', id: 1, name: 'Alice', email: null } } });
    gh.addToken(ALICE_PUBLIC, { sameUserAs: ALICE, scopes: ['public_repo'] });
    gh.addUser(BOB, { scopes: ['repo'], data: { user: { login: 'bob', id: 2 } } });
  });
  afterEach(() => gh.clearFailures());
  afterAll(() => gh.close());

  const get = (path: string, token: string | null = ALICE, accept = 'application/vnd.github+json'): Promise<Response> =>
    fetch(path.startsWith('http') ? path : `${gh.url}${path}`, {
      redirect: 'manual',
      headers: { accept, 'x-github-api-version': '2022-11-28', 'user-agent': 'mcprt-test', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    });
  const json = async <T = Record<string, unknown>>(res: Response): Promise<T> => (await res.json()) as T;
  const names = (repos: Array<{ full_name: string }>): string[] => repos.map((r) => r.full_name);
  const nextLink = (res: Response): string | undefined => /<([^>]+)>; rel="next"/.exec(res.headers.get('link') ?? '')?.[1];

  describe('GET /user (§5.1)', () => {
    it('answers the profile with the private extras under read:user', async () => {
      const res = await get('/user');
      expect(res.status).toBe(200);
      const user = await json(res);
      expect(user).toMatchObject({ login: 'alice', id: 1, name: 'Alice', email: null, type: 'User', site_admin: false, public_repos: 13 });
      expect(user['url']).toBe(`${gh.url}/users/alice`);
      expect(user).toMatchObject({ total_private_repos: 1, owned_private_repos: 1, two_factor_authentication: true, plan: { name: 'free' } });
    });

    it('leaves the private extras out without read:user or user', async () => {
      const user = await json(await get('/user', ALICE_PUBLIC));
      expect(user['login']).toBe('alice');
      expect(user['total_private_repos']).toBeUndefined();
      expect(user['plan']).toBeUndefined();
    });

    it("bob's token answers bob", async () => {
      expect((await json(await get('/user', BOB)))['login']).toBe('bob');
    });
  });

  describe('GET /user/repos (§5.2)', () => {
    it('lists owned, collaborator and organization repos, private included, by full_name asc', async () => {
      const res = await get('/user/repos?per_page=100');
      expect(res.status).toBe(200);
      const repos = await json<Array<Record<string, unknown> & { full_name: string }>>(res);
      expect(names(repos)).toEqual([
        'acme/platform',
        'alice/pkg-00',
        ...Array.from({ length: 11 }, (_, i) => `alice/pkg-${String(i + 1).padStart(2, '0')}`),
        'alice/public-notes',
        'alice/secret-plans',
        'bob/shared',
      ]);
      expect(names(repos)).not.toContain('bob/diary');
      expect(repos.find((r) => r.full_name === 'alice/secret-plans')).toEqual({
        id: expect.any(Number),
        name: 'secret-plans',
        full_name: 'alice/secret-plans',
        private: true,
        owner: { login: 'alice', id: 1, type: 'User' },
        html_url: 'https://github.com/alice/secret-plans',
        description: 'Plans',
        url: `${gh.url}/repos/alice/secret-plans`,
        default_branch: 'main',
        created_at: '2026-03-01T00:00:00Z',
        updated_at: '2026-11-01T00:00:00Z',
        pushed_at: '2026-11-01T00:00:00Z',
      });
      expect(res.headers.get('link')).toBeNull();
    });

    it('filters affiliation and visibility; sorts by created desc by default for that sort', async () => {
      expect(names(await json(await get('/user/repos?affiliation=collaborator,organization_member')))).toEqual(['acme/platform', 'bob/shared']);
      expect(names(await json(await get('/user/repos?visibility=private&affiliation=owner')))).toEqual(['alice/secret-plans']);
      const byCreated = names(await json(await get('/user/repos?sort=created&per_page=3')));
      expect(byCreated).toEqual(['bob/shared', 'alice/secret-plans', 'alice/public-notes']);
      const asc = names(await json(await get('/user/repos?sort=created&direction=asc&per_page=1')));
      expect(asc).toEqual(['alice/pkg-00']);
    });

    it('answers type together with visibility or affiliation with 422', async () => {
      const res = await get('/user/repos?type=owner&visibility=private');
      expect(res.status).toBe(422);
      expect(await json(res)).toEqual({
        message: 'If you specify visibility or affiliation, you cannot specify type.',
        documentation_url: 'https://docs.github.com/rest',
        status: '422',
      });
    });

    it('pages with per_page and a Link header until there is no rel="next"', async () => {
      const first = await get('/user/repos?per_page=5&sort=full_name');
      const link = first.headers.get('link')!;
      expect(link).toContain(`<${gh.url}/user/repos?per_page=5&sort=full_name&page=2>; rel="next"`);
      expect(link).toContain(`<${gh.url}/user/repos?per_page=5&sort=full_name&page=4>; rel="last"`);
      const seen = names(await json(first));
      let url = nextLink(first);
      let pages = 1;
      while (url) {
        const res = await get(url);
        pages += 1;
        if (pages > 1) expect(res.headers.get('link')).toContain('rel="prev"');
        seen.push(...names(await json(res)));
        url = nextLink(res);
      }
      expect(pages).toBe(4);
      expect(seen).toEqual(names(await json(await get('/user/repos?per_page=100'))));
    });

    it('defaults per_page to 30 and clamps it at 100', async () => {
      expect((await json<unknown[]>(await get('/user/repos?per_page=1000'))).length).toBe(16);
      expect((await json<unknown[]>(await get('/user/repos'))).length).toBe(16);
    });

    it('without the repo scope lists public repos only, and says which scope it accepts', async () => {
      const res = await get('/user/repos?per_page=100', ALICE_PUBLIC);
      const repos = await json<Array<{ full_name: string; private: boolean }>>(res);
      expect(repos.every((r) => !r.private)).toBe(true);
      expect(repos).toHaveLength(13);
      expect(res.headers.get('x-oauth-scopes')).toBe('public_repo');
      expect(res.headers.get('x-accepted-oauth-scopes')).toBe('repo');
    });

    it("bob's token lists bob's repos, never alice's", async () => {
      expect(names(await json(await get('/user/repos', BOB)))).toEqual(['bob/diary', 'bob/shared']);
    });
  });

  describe('GET /search/code (§5.3)', () => {
    type SearchBody = {
      total_count: number;
      incomplete_results: boolean;
      items: Array<Record<string, unknown> & { path: string; repository: { full_name: string } }>;
    };
    const search = async (q: string, token = ALICE, extra = ''): Promise<SearchBody> => {
      const res = await get(`/search/code?q=${encodeURIComponent(q)}${extra}`, token);
      expect(res.status).toBe(200);
      return json<SearchBody>(res);
    };
    const where = (body: SearchBody): string[] => body.items.map((i) => `${i.repository.full_name}:${i.path}`);

    it('finds matches in the repos the token can see, private included, never bob’s', async () => {
      const body = await search('launch');
      expect(where(body)).toEqual([
        'acme/platform:main.go',
        'alice/public-notes:notes.md',
        'alice/secret-plans:README.md',
        'alice/secret-plans:docs/guide.md',
        'alice/secret-plans:src/index.ts',
        'bob/shared:x.md',
      ]);
      expect(body).toMatchObject({ total_count: 6, incomplete_results: false });
      const item = body.items.find((i) => i.path === 'README.md')!;
      expect(Object.keys(item).sort()).toEqual(['git_url', 'html_url', 'name', 'path', 'repository', 'score', 'sha', 'url']);
      expect(item.repository).toEqual({
        id: expect.any(Number),
        name: 'secret-plans',
        full_name: 'alice/secret-plans',
        private: true,
        owner: { login: 'alice' },
        html_url: 'https://github.com/alice/secret-plans',
      });
      expect(item['html_url']).toMatch(/^https:\/\/github\.com\/alice\/secret-plans\/blob\/[0-9a-f]{40}\/README\.md$/);
      expect(where(await search('launch', BOB))).toEqual(['alice/public-notes:notes.md', 'bob/diary:entry.md', 'bob/shared:x.md']);
    });

    it('narrows with repo:, user:, in:path, language:, extension:, filename:, path:', async () => {
      expect(where(await search('launch repo:alice/secret-plans'))).toEqual([
        'alice/secret-plans:README.md',
        'alice/secret-plans:docs/guide.md',
        'alice/secret-plans:src/index.ts',
      ]);
      expect(where(await search('launch user:acme'))).toEqual(['acme/platform:main.go']);
      expect(where(await search('math in:path'))).toEqual(['alice/secret-plans:src/util/math.ts']);
      expect(where(await search('launch language:typescript'))).toEqual(['alice/secret-plans:src/index.ts']);
      expect(where(await search('launch extension:md path:docs'))).toEqual(['alice/secret-plans:docs/guide.md']);
      expect(where(await search('launch filename:README.md'))).toEqual(['alice/secret-plans:README.md']);
    });

    it('skips binary files and files of 384 KB or more; searches only the default branch', async () => {
      expect((await search('PNG')).items).toEqual([]);
      expect((await search('aaaa repo:alice/secret-plans')).items).toEqual([]);
      expect((await search('"Old plans"')).items).toEqual([]);
    });

    it('pages with a Link header', async () => {
      const first = await get(`/search/code?q=launch&per_page=4`);
      expect((await json<SearchBody>(first)).items).toHaveLength(4);
      const next = nextLink(first)!;
      expect(next).toBe(`${gh.url}/search/code?q=launch&per_page=4&page=2`);
      const second = await json<SearchBody>(await get(next));
      expect(second.items).toHaveLength(2);
      expect(second.total_count).toBe(6);
    });

    it.each([
      ['no q', '', { resource: 'Search', field: 'q', code: 'missing' }],
      ['qualifiers only', '?q=language:go', { resource: 'Search', field: 'q', code: 'invalid' }],
      [
        "bob's private repo",
        `?q=${encodeURIComponent('launch repo:bob/diary')}`,
        { resource: 'Search', field: 'q', code: 'invalid', message: expect.stringContaining('cannot be searched') },
      ],
      ['a repo that does not exist', `?q=${encodeURIComponent('x repo:nobody/nothing')}`, { code: 'invalid' }],
    ])('answers %s with 422 Validation Failed', async (_name, query, error) => {
      const res = await get(`/search/code${query}`);
      expect(res.status).toBe(422);
      const body = await json(res);
      expect(body).toEqual({
        message: 'Validation Failed',
        errors: [expect.objectContaining(error)],
        documentation_url: 'https://docs.github.com/rest',
        status: '422',
      });
    });

    it('naming a private repo through a token without repo answers 403 with the scope headers', async () => {
      const res = await get(`/search/code?q=${encodeURIComponent('launch repo:alice/secret-plans')}`, ALICE_PUBLIC);
      expect(res.status).toBe(403);
      expect(res.headers.get('x-accepted-oauth-scopes')).toBe('repo');
      expect(res.headers.get('x-oauth-scopes')).toBe('public_repo');
      expect(where(await search('launch', ALICE_PUBLIC))).toEqual(['alice/public-notes:notes.md']);
    });

    it('with incompleteSearch, answers the results found so far with incomplete_results: true', async () => {
      const partial = await startGithubDouble({ repos: fixtures(), incompleteSearch: true });
      try {
        partial.addUser('gho_t', { scopes: ['repo'], data: { user: { login: 'alice', id: 1 } } });
        const res = await fetch(`${partial.url}/search/code?q=launch`, { headers: { authorization: 'Bearer gho_t' } });
        expect(await res.json()).toMatchObject({
          total_count: 3,
          incomplete_results: true,
          items: [{ path: 'main.go' }, { path: 'notes.md' }, { path: 'README.md' }],
        });
      } finally {
        await partial.close();
      }
    });

    it('counts against the code_search resource (10/min)', async () => {
      const res = await get('/search/code?q=launch');
      expect(res.headers.get('x-ratelimit-resource')).toBe('code_search');
      expect(res.headers.get('x-ratelimit-limit')).toBe('10');
    });
  });

  describe('GET /repos/{owner}/{repo}/contents/{path} (§5.4)', () => {
    type FileBody = Record<string, unknown> & { content: string; encoding: string; size: number; sha: string };
    const contents = (path: string, token = ALICE, accept?: string): Promise<Response> => get(`/repos/alice/secret-plans/contents/${path}`, token, accept);

    it('answers a file with base64 content in 60-char lines and git’s blob sha', async () => {
      const res = await contents('README.md');
      expect(res.status).toBe(200);
      const file = await json<FileBody>(res);
      expect(file).toMatchObject({ type: 'file', encoding: 'base64', size: Buffer.byteLength(README), name: 'README.md', path: 'README.md' });
      expect(Buffer.from(file.content, 'base64').toString('utf8')).toBe(README);
      for (const line of file.content.split('\n').slice(0, -1)) expect(line.length).toBeLessThanOrEqual(60);
      expect(file.content.endsWith('\n')).toBe(true);
      expect(file.sha).toBe(
        createHash('sha1')
          .update(`blob ${Buffer.byteLength(README)}\0${README}`)
          .digest('hex'),
      );
      expect(Object.keys(file).sort()).toEqual([
        '_links',
        'content',
        'download_url',
        'encoding',
        'git_url',
        'html_url',
        'name',
        'path',
        'sha',
        'size',
        'type',
        'url',
      ]);
      expect(res.headers.get('x-accepted-oauth-scopes')).toBe('repo');
    });

    it('reads another ref by name or commit sha; a missing ref or path is 404 Not Found', async () => {
      const old = await json<FileBody>(await contents('README.md?ref=v1'));
      expect(Buffer.from(old.content, 'base64').toString()).toBe('# Old plans\n');
      const repo = gh.repos.find((r) => r.name === 'secret-plans')!;
      const bySha = await json<FileBody>(await contents(`README.md?ref=${refSha(repo, 'v1')}`));
      expect(bySha.sha).toBe(old.sha);
      for (const path of ['README.md?ref=nope', 'missing.txt', 'src%2F..%2FREADME.md', '..%2Fsecret-plans%2FREADME.md']) {
        const res = await contents(path);
        expect(res.status).toBe(404);
        expect(await json(res)).toEqual({ message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });
      }
    });

    it('answers a directory as an array (submodules as type file), or an object with entries', async () => {
      const root = await json<Array<{ type: string; name: string; path: string; download_url: string | null }>>(await contents(''));
      expect(root.map((e) => `${e.type}:${e.path}`)).toEqual([
        'file:big.bin',
        'dir:docs',
        'symlink:escape-link',
        'file:huge.iso',
        'file:image.png',
        'symlink:readme-link',
        'file:README.md',
        'dir:src',
        'dir:vendor',
      ]);
      const vendor = await json<Array<{ type: string; path: string; download_url: string | null }>>(await contents('vendor'));
      expect(vendor).toEqual([expect.objectContaining({ type: 'file', path: 'vendor/lib', download_url: null })]);
      const src = await json<{ type: string; entries: Array<{ path: string }> }>(await contents('src', ALICE, 'application/vnd.github.object+json'));
      expect(src.type).toBe('dir');
      expect(src.entries.map((e) => e.path)).toEqual(['src/index.ts', 'src/util']);
    });

    it('follows a symlink to a file in the repo; otherwise answers type symlink; submodule as submodule', async () => {
      const followed = await json<FileBody>(await contents('readme-link'));
      expect(followed).toMatchObject({ type: 'file', path: 'README.md' });
      expect(await json(await contents('escape-link'))).toMatchObject({ type: 'symlink', target: '../../etc/passwd', path: 'escape-link' });
      expect(await json(await contents('vendor/lib'))).toMatchObject({ type: 'submodule', submodule_git_url: 'https://github.com/acme/lib.git' });
    });

    it('serves binary content base64 like any file', async () => {
      const png = await json<FileBody>(await contents('image.png'));
      expect(Buffer.from(png.content, 'base64')).toEqual(PNG);
    });

    it('over 1 MB: encoding none and empty content, or raw bytes with the raw media type; over 100 MB: 403', async () => {
      const big = await json<FileBody>(await contents('big.bin'));
      expect(big).toMatchObject({ type: 'file', size: 1_500_000, encoding: 'none', content: '' });
      const raw = await contents('big.bin', ALICE, 'application/vnd.github.raw+json');
      expect(raw.status).toBe(200);
      expect((await raw.arrayBuffer()).byteLength).toBe(1_500_000);
      const huge = await contents('huge.iso');
      expect(huge.status).toBe(403);
      expect(await json(huge)).toMatchObject({ status: '403', documentation_url: 'https://docs.github.com/rest' });
    });

    it("hides alice's private repo from bob (404) and refuses a token without repo (403, scope headers)", async () => {
      expect((await contents('README.md', BOB)).status).toBe(404);
      const res = await contents('README.md', ALICE_PUBLIC);
      expect(res.status).toBe(403);
      expect(res.headers.get('x-accepted-oauth-scopes')).toBe('repo');
      expect(res.headers.get('x-oauth-scopes')).toBe('public_repo');
      expect(await json(res)).toMatchObject({ status: '403', documentation_url: 'https://docs.github.com/rest', message: expect.any(String) });
      expect((await get('/repos/alice/public-notes/contents/notes.md', BOB)).status).toBe(200);
    });

    it('answers the scope denial as 404 when started with scopeDenial: 404', async () => {
      const hiding = await startGithubDouble({ repos: fixtures(), scopeDenial: 404 });
      try {
        hiding.addUser('gho_x', { scopes: ['public_repo'], data: { user: { login: 'alice', id: 1 } } });
        const res = await fetch(`${hiding.url}/repos/alice/secret-plans/contents/README.md`, { headers: { authorization: 'Bearer gho_x' } });
        expect(res.status).toBe(404);
        expect(res.headers.get('x-accepted-oauth-scopes')).toBe('repo');
      } finally {
        await hiding.close();
      }
    });
  });

  describe('auth, rate-limit headers (§5.5) and errors (§5.6)', () => {
    it.each([
      ['no token', null, 'Requires authentication'],
      ['an unknown token', 'gho_unknown', 'Bad credentials'],
    ])('answers %s with 401 basic-error', async (_name, token, message) => {
      const res = await get('/user', token);
      expect(res.status).toBe(401);
      expect(await json(res)).toEqual({ message, documentation_url: 'https://docs.github.com/rest', status: '401' });
    });

    it('answers a revoked token with 401', async () => {
      gh.addToken('gho_alice_2', { sameUserAs: ALICE, scopes: ['repo'] });
      gh.revoke('gho_alice_2');
      expect((await get('/user', 'gho_alice_2')).status).toBe(401);
    });

    it('carries x-ratelimit-* on every authenticated answer, counted per user', async () => {
      const a = await get('/user');
      const b = await get('/user');
      expect(a.headers.get('x-ratelimit-limit')).toBe('5000');
      expect(a.headers.get('x-ratelimit-resource')).toBe('core');
      expect(Number(b.headers.get('x-ratelimit-remaining'))).toBe(Number(a.headers.get('x-ratelimit-remaining')) - 1);
      expect(Number(b.headers.get('x-ratelimit-used'))).toBe(Number(a.headers.get('x-ratelimit-used')) + 1);
      expect(Number(a.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
      expect(a.headers.get('x-oauth-scopes')).toBe('repo, read:user');
      const bob = await get('/user', BOB);
      expect(Number(bob.headers.get('x-ratelimit-used'))).toBeLessThan(Number(b.headers.get('x-ratelimit-used')));
    });

    it('429 scripted: Retry-After, x-ratelimit-remaining 0 and a "rate limit" message', async () => {
      gh.failNext({ status: 429, retryAfter: 60 });
      const res = await get('/user/repos');
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('60');
      expect(res.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(res.headers.get('x-ratelimit-used')).toBe('5000');
      expect(Number(res.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
      expect(await json(res)).toEqual({ message: 'API rate limit exceeded for user ID 1.', documentation_url: 'https://docs.github.com/rest', status: '429' });
    });

    it('a rate-limit 403 and a permission 403 are told apart as §5.6 says', async () => {
      gh.failNext({ status: 403, rateLimited: true, match: { path: '/search/code' } });
      const limited = await get('/search/code?q=launch');
      expect(limited.status).toBe(403);
      expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(limited.headers.get('x-ratelimit-resource')).toBe('code_search');
      expect(((await json(limited))['message'] as string).toLowerCase()).toContain('rate limit');

      gh.failNext({ status: 403 });
      const denied = await get('/user/repos');
      expect(denied.status).toBe(403);
      expect(denied.headers.get('x-ratelimit-remaining')).not.toBe('0');
      expect(denied.headers.get('x-accepted-oauth-scopes')).toBe('repo');
      expect(((await json(denied))['message'] as string).toLowerCase()).not.toContain('rate limit');
    });

    it.each([
      [401, 'Bad credentials'],
      [404, 'Not Found'],
      [500, 'Server Error'],
    ])('failNext({status: %i}) answers %s once', async (status, message) => {
      gh.failNext({ status, match: { token: ALICE } });
      expect((await get('/user', BOB)).status).toBe(200);
      const res = await get('/user');
      expect(res.status).toBe(status);
      expect(await json(res)).toEqual({ message, documentation_url: 'https://docs.github.com/rest', status: String(status) });
      expect((await get('/user')).status).toBe(200);
    });

    it('a scripted 422 is a §5.6 validation error; a malformed path escape is a 404', async () => {
      gh.failNext({ status: 422 });
      const res = await get('/search/code?q=launch');
      expect(res.status).toBe(422);
      expect(await json(res)).toEqual({
        message: 'Validation Failed',
        errors: [{ code: 'invalid' }],
        documentation_url: 'https://docs.github.com/rest',
        status: '422',
      });
      expect((await get('/repos/alice/secret-plans/contents/%E0%A4%A')).status).toBe(404);
    });

    it('slow, oversized, malformed, redirected, and a Link pointing elsewhere', async () => {
      gh.failNext({ delayMs: 200 });
      const started = Date.now();
      expect((await get('/user')).status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(180);

      gh.failNext({ oversized: { bytes: 5_000_000 }, match: { path: /\/contents\// } });
      const big = await get('/repos/alice/secret-plans/contents/README.md');
      expect((await big.arrayBuffer()).byteLength).toBe(5_000_000);

      gh.failNext({ malformedJson: true });
      const broken = await get('/user/repos');
      expect(broken.status).toBe(200);
      await expect(broken.json()).rejects.toThrow();

      const elsewhere = await startGithubDouble();
      try {
        const location = `${elsewhere.url}/user`;
        gh.failNext({ redirect: location });
        const redirected = await get('/user');
        expect(redirected.status).toBe(302);
        expect(redirected.headers.get('location')).toBe(location);
        expect(elsewhere.requests).toHaveLength(0);
      } finally {
        await elsewhere.close();
      }

      gh.failNext({ redirect: 'http://10.0.0.1/user', redirectStatus: 301 });
      const toPrivate = await get('/user');
      expect(toPrivate.status).toBe(301);
      expect(toPrivate.headers.get('location')).toBe('http://10.0.0.1/user');

      gh.failNext({ headers: { link: '<http://10.0.0.1/user/repos?page=2>; rel="next"' } });
      const pointed = await get('/user/repos?per_page=5');
      expect(pointed.status).toBe(200);
      expect(nextLink(pointed)).toBe('http://10.0.0.1/user/repos?page=2');
    });
  });
});
