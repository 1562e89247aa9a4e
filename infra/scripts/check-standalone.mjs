// `pnpm lint` runs this: comments, tests and docs must stand alone. A reader of this repository has
// no access to the tracker the work was planned in, nor to design notes kept elsewhere, so a comment
// that cites a tracker number or such a document tells them nothing: it must say the reason in place.
// Scanned: the comments of TypeScript and JavaScript files (strings are data, not prose), and the
// whole text of Markdown, SQL, shell, YAML, Dockerfiles and ignore files. `--self-test` checks the
// patterns against examples that must and must not be reported, and runs before every scan.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** What is reported, each with why. Case-insensitive. */
export const PATTERNS = [
  // The word issue (or issues) and a number, with or without a hash: a tracker number. A URL path
  // segment (issues, a slash, a number) is not prose and is not reported.
  { re: /(?<![/\w-])issues?\s*#?\d+/gi, why: 'cites a tracker number' },
  // The word item (or items) and a number: a numbered point of a tracker entry.
  { re: /(?<![/\w-])items?\s+\d+/gi, why: 'cites a numbered item of a tracker entry' },
  // A hash and digits standing alone: a tracker or pull-request number. Not an HTML entity, a name
  // such as PKCS and its number, a colour in a string or after a CSS property's colon, the shell's
  // argument count or length operators, or a Markdown anchor (the self-test has an example of each).
  { re: /(?<![\w&$:{'"/#\\-])(?<!:\s*)#\d+(?![\w-])/g, why: 'cites a tracker or pull-request number' },
  // Design notes, stack and style guides kept outside this repository.
  { re: /\b(?:DESIGN|STACK|STYLE)(?:\.md\b|\s*§)/g, why: 'cites a document outside the repository' },
  { re: /\.\.\/shared\b/g, why: 'cites a document outside the repository' },
  { re: /\bseed walkthrough\b/gi, why: 'cites a document outside the repository' },
];

const SCRIPT = new Set(['.ts', '.tsx', '.mts', '.cts', '.js', '.mjs', '.cjs']);
const TEXT = new Set(['.md', '.sql', '.sh', '.yaml', '.yml', '.toml']);
const TEXT_NAMES = new Set(['Dockerfile', '.gitignore', '.dockerignore', '.prettierignore', 'run']);

/**
 * The comments of a TypeScript or JavaScript source, each with its offset: the trivia around every
 * token the parser found (so a `//` inside a string, template or regex is never taken for one).
 */
export function commentsOf(fileName, text) {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const comments = new Map();
  const collect = (ranges) => {
    for (const r of ranges ?? []) comments.set(r.pos, { offset: r.pos, text: text.slice(r.pos, r.end) });
  };
  const visit = (node) => {
    collect(ts.getLeadingCommentRanges(text, node.getFullStart()));
    collect(ts.getTrailingCommentRanges(text, node.getEnd()));
    for (const child of node.getChildren(source)) visit(child);
  };
  visit(source);
  return [...comments.values()];
}

// A Markdown document named by its file name: it must be one of this repository's (resolved against
// the repository root, the naming file's folder, or by its base name). URLs are not checked.
// Public specifications named by their path in their own repository (the repository is named next to them).
const PUBLIC_DOCUMENTS = new Set(['specification/draft/tasks.md']);
const MD_NAME = /(?<![\w./:@-])(?:\.{0,2}\/)?[\w-][\w./-]*\.md\b/g;

function missingDocuments(fileName, text, documents) {
  const found = [];
  for (const m of text.matchAll(MD_NAME)) {
    const name = m[0].replace(/^\.\//, '');
    const candidates = [name, join(dirname(fileName), name)].map((p) => normalize(p));
    if (PUBLIC_DOCUMENTS.has(name) || candidates.some((c) => documents.has(c)) || (!name.includes('/') && documents.has(`*/${name}`))) continue;
    found.push({ index: m.index, match: m[0], why: 'names a document that is not in the repository' });
  }
  return found;
}

/** Every finding in one file's text: line, the match, and why it is reported. */
export function findingsIn(fileName, text, documents = new Set()) {
  const ext = extname(fileName);
  const parts = SCRIPT.has(ext) ? commentsOf(fileName, text) : [{ offset: 0, text }];
  const findings = [];
  for (const part of parts) {
    for (const { re, why } of PATTERNS) {
      for (const m of part.text.matchAll(re)) {
        const at = part.offset + m.index;
        findings.push({ line: text.slice(0, at).split('\n').length, match: m[0], why });
      }
    }
    for (const m of missingDocuments(fileName, part.text, documents)) {
      findings.push({ line: text.slice(0, part.offset + m.index).split('\n').length, match: m.match, why: m.why });
    }
  }
  return findings.sort((a, b) => a.line - b.line);
}

/** The repository's Markdown documents: each path, and each base name (as a name alone may cite it). */
function documentSet(paths) {
  return new Set(paths.filter((p) => p.endsWith('.md')).flatMap((p) => [p, `*/${basename(p)}`]));
}

const scanned = (file) => {
  if (file === 'pnpm-lock.yaml') return false;
  const ext = extname(file);
  return SCRIPT.has(ext) || TEXT.has(ext) || TEXT_NAMES.has(basename(file));
};

function selfTest() {
  const documents = documentSet(['README.md', 'docs/audit.md']);
  const must = [
    ['a.ts', '// the upstream-apis.md notes'],
    ['docs/a.md', 'see [the notes](../../shared/reference/upstream-apis.md)'],
    ['a.ts', '// see issue 12 for why'],
    ['a.ts', 'const x = 1; /* issues 8-12 */'],
    ['a.ts', 'f(); // Issue 11 item 5'],
    ['a.ts', '/** retention (item 7) */ export {};'],
    ['a.ts', 'const a = { b: 1, // fixed in #12\n};'],
    ['a.md', 'Fixed in (#42).'],
    ['a.md', 'as DESIGN.md says'],
    ['a.md', 'per STYLE.md §3'],
    ['a.sql', '-- append-only (DESIGN §4)'],
    ['a.md', 'see ../shared/notes'],
    ['a.sh', '# the seed walkthrough'],
  ];
  const mustNot = [
    ['packages/x/a.ts', '// docs/audit.md and README.md; https://github.com/o/r/blob/main/CHANGELOG.md'],
    ['docs/b.md', 'see [audit](audit.md), [readme](../README.md) and ./audit.md'],
    ['a.ts', "const path = '/repos/o/r/issues/12'; // GitHub API: GET /repos/{owner}/{repo}/issues/12"],
    ['a.ts', "// issue a 401 when the token is expired\nconst s = 'issue 12';"],
    ['a.ts', "const esc = { \"'\": '&#39;' }; // PKCS#8 prefix, &#x27; entity"],
    ['a.ts', "const page = '<style>p{color:#333}</style>'; // background: #000000"],
    ['a.ts', 'const re = /issue 12/; const t = `// item 5 ${1}`;'],
    ['a.md', 'body { color: #333; } and [the demo](#pnpm-demo), `$#`, `${#arr[@]}`'],
    ['a.md', 'status 404, 3 items, item-4 and HTTP/1.1 #hashtag'],
  ];
  const problems = [];
  for (const [f, t] of must) if (findingsIn(f, t, documents).length === 0) problems.push(`not reported: ${JSON.stringify(t)}`);
  for (const [f, t] of mustNot) {
    const found = findingsIn(f, t, documents);
    if (found.length) problems.push(`reported by mistake: ${JSON.stringify(t)} → ${found.map((x) => x.match).join(', ')}`);
  }
  return problems;
}

function main() {
  const problems = selfTest();
  if (problems.length) {
    console.error(`check-standalone: the patterns are wrong:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    process.exit(2);
  }
  if (process.argv.includes('--self-test')) return console.log('check-standalone: self-test passed');
  const tracked = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' }).split('\n');
  const documents = documentSet(tracked.filter((f) => existsSync(join(root, f))));
  const files = tracked.filter((f) => f && scanned(f));
  const report = [];
  for (const file of files) {
    let text;
    try {
      text = readFileSync(`${root}/${file}`, 'utf8');
    } catch {
      continue; // listed by git but deleted in the work tree
    }
    for (const f of findingsIn(file, text, documents)) report.push(`${file}:${f.line}: "${f.match}" ${f.why}; say the reason in place`);
  }
  if (report.length) {
    console.error(`check-standalone: ${report.length} reference(s) to outside the repository:\n${report.join('\n')}`);
    process.exit(1);
  }
  console.log(`check-standalone: ${files.length} files stand alone`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
