import { AppError } from '@mcprt/errors';
import { z } from 'zod';
import { capUtf8 } from '../html-text.js';
import { defineTool } from '../tool.js';
import { GITHUB_REPO_SCOPE, repoName } from './github-shapes.js';

/** Largest answer read: a 1 MB file in base64 with line breaks, plus the JSON around it. */
const MAX_ANSWER_BYTES = 1_500_000;

// docs/upstream-apis.md §5.4: a file object, or an array for a directory, or a symlink/submodule object.
const fileAnswer = z.looseObject({
  type: z.string(),
  size: z.number().optional(),
  name: z.string().optional(),
  path: z.string().optional(),
  sha: z.string().optional(),
  encoding: z.string().optional(),
  content: z.string().optional(),
  html_url: z.string().nullable().optional(),
  target: z.string().optional(),
  submodule_git_url: z.string().optional(),
});
const contentsAnswer = z.union([z.array(z.looseObject({ name: z.string(), type: z.string() })), fileAnswer]);

const refuse = (code: string, message: string) => new AppError('validation', code, message, { expose: true, retryable: false });

/** A file's text at a ref: capped at `max_bytes`; directories, symlinks, submodules and binary files are refused with a clear message. */
export const githubReadFile = defineTool({
  name: 'github_read_file',
  title: 'Read a file from GitHub',
  description:
    'Reads one text file from a GitHub repository you can see (private ones included) at a branch, tag or commit (default: the default branch). The text is cut at max_bytes; binary files and files over 1 MB are refused.',
  input: z
    .object({
      repo: repoName,
      path: z
        .string()
        .min(1)
        .max(1_000)
        .refine((p) => !p.split('/').some((s) => s === '..' || s === '.'), 'no . or .. segments')
        .describe('Path of the file in the repository'),
      ref: z
        .string()
        .max(250)
        .regex(/^[^\s~^:?*[\\]+$/, 'a branch, tag or commit SHA')
        .optional()
        .describe('Branch, tag or commit SHA (default: the default branch)'),
      max_bytes: z.number().int().min(1_000).max(200_000).default(100_000).describe('Cap on the returned text in bytes (1,000–200,000)'),
    })
    .strict(),
  output: z.object({
    repo: z.string(),
    path: z.string(),
    ref: z.string().nullable(),
    sha: z.string().nullable(),
    size: z.number(),
    text: z.string(),
    truncated: z.boolean(),
    url: z.string().nullable(),
  }),
  mcpScope: 'tools:github_read_file',
  upstream: { provider: 'github', scopes: [GITHUB_REPO_SCOPE] },
  timeoutMs: 20_000,
  annotations: { readOnlyHint: true, openWorldHint: true, idempotentHint: false },
  maxResultBytes: 256 * 1024,
  text: (f) => `${f.repo}:${f.path}${f.ref ? `@${f.ref}` : ''} (${f.size} bytes${f.truncated ? ', cut at max_bytes' : ''})\n\n${f.text}`,
  async run(ctx, args) {
    const path = args.path.replace(/^\/+/, '');
    const { data } = await ctx.upstream!.json(
      'github',
      {
        path: `/repos/${args.repo}/contents/${path.split('/').map(encodeURIComponent).join('/')}`,
        query: { ref: args.ref },
        notFound: `no file ${path} in ${args.repo}${args.ref ? ` at ${args.ref}` : ''} that you can see (the repository, ref or path does not exist, or your account cannot reach it)`,
        maxBodyBytes: MAX_ANSWER_BYTES,
      },
      contentsAnswer,
    );
    if (Array.isArray(data)) {
      const names = data.slice(0, 50).map((e) => (e.type === 'dir' ? `${e.name}/` : e.name));
      throw refuse('not_a_file', `${path} is a directory in ${args.repo}, not a file. Its entries: ${names.join(', ')}${data.length > 50 ? ', …' : ''}`);
    }
    if (data.type === 'symlink') throw refuse('not_a_file', `${path} is a symbolic link to ${data.target ?? 'outside the repository'}, not a file`);
    if (data.type === 'submodule') throw refuse('not_a_file', `${path} is a submodule (${data.submodule_git_url ?? 'another repository'}), not a file`);
    if (data.type !== 'file') throw refuse('not_a_file', `${path} is a ${data.type}, not a file`);
    if (data.encoding !== 'base64' || data.content === undefined)
      throw refuse('file_too_large', `${path} is ${data.size ?? 'over 1,000,000'} bytes; github_read_file reads files up to 1 MB`);
    const bytes = Buffer.from(data.content, 'base64');
    if (isBinary(bytes)) throw refuse('binary_file', `${path} is a binary file (${bytes.length} bytes); github_read_file reads text files only`);
    const text = capUtf8(bytes.toString('utf8'), args.max_bytes);
    return {
      repo: args.repo,
      path: data.path ?? path,
      ref: args.ref ?? null,
      sha: data.sha ?? null,
      size: data.size ?? bytes.length,
      text: text.text,
      truncated: text.truncated,
      url: data.html_url ?? null,
    };
  },
});

/** Binary: a NUL byte in the first 8 KB (git's own test), or bytes that are not UTF-8. */
function isBinary(b: Buffer): boolean {
  if (b.subarray(0, 8192).includes(0)) return true;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return false;
  } catch {
    return true;
  }
}
