import { convert, type HtmlToTextOptions } from 'html-to-text';

/**
 * HTML mail body → plain text for a model to read (html-to-text). Not a renderer and not a sanitizer
 * (the output is never rendered as HTML): scripts, styles, images and comments are dropped, block
 * elements become line breaks, list items start with "- ", table cells are separated by a space, links
 * keep their target as "text (url)" (not for mailto: links, nor when the text is the URL), entities are
 * decoded, whitespace collapsed, at most one blank line in a row.
 */
const OPTIONS: HtmlToTextOptions = {
  wordwrap: false,
  formatters: {
    cell(elem, walk, builder) {
      walk(elem.children, builder);
      builder.addLiteral(' ');
    },
  },
  selectors: [
    { selector: 'a', options: { linkBrackets: ['(', ')'], hideLinkHrefIfSameAsText: true } },
    { selector: 'a[href^="mailto:"]', format: 'anchor', options: { ignoreHref: true } },
    { selector: 'img', format: 'skip' },
    { selector: 'hr', format: 'block' },
    { selector: 'ul', options: { itemPrefix: '- ', trailingLineBreaks: 1 } },
    { selector: 'ol', options: { trailingLineBreaks: 1 } },
    { selector: 'table', format: 'block' },
    { selector: 'tr', format: 'block', options: { leadingLineBreaks: 1, trailingLineBreaks: 1 } },
    { selector: 'td', format: 'cell' },
    { selector: 'th', format: 'cell' },
    ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((selector) => ({ selector, options: { uppercase: false } })),
  ],
};

export function htmlToText(html: string): string {
  return convert(html, OPTIONS)
    .split('\n')
    .map((l) => l.replace(/[ \t\u00a0]+/g, ' ').trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** At most `max` UTF-8 bytes of `s`, cut at a character boundary; `truncated` says whether anything was cut. */
export function capUtf8(s: string, max: number): { text: string; truncated: boolean } {
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= max) return { text: s, truncated: false };
  let end = max;
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--; // not in the middle of a character
  return { text: buf.subarray(0, end).toString('utf8'), truncated: true };
}
