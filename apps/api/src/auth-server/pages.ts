import { createHash } from 'node:crypto';
import { HISTORY_SCOPES } from '@mcprt/policy';

/** HTML-escape for text and attribute values (the page has no other sink). */
export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:30rem;margin:4rem auto;background:#fff;border-radius:12px;padding:2rem;box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:1.3rem;margin:0 0 1rem}.host{font-family:ui-monospace,monospace;font-size:1.1rem;background:#fff4d6;padding:.2rem .4rem;border-radius:4px}
ul{padding-left:1.2rem}.actions{display:flex;gap:.75rem;margin-top:1.5rem}button{font:inherit;padding:.6rem 1.2rem;border-radius:8px;border:1px solid #c6cad3;background:#fff;cursor:pointer}
button.allow{background:#1f5fd1;border-color:#1f5fd1;color:#fff}.muted{color:#5b6272;font-size:.9rem}
main.wide{max-width:75rem;margin:1.5rem auto}nav{display:flex;flex-wrap:wrap;gap:.9rem;margin:0 0 1rem;padding-bottom:.6rem;border-bottom:1px solid #e2e4ea}
nav a{color:#1f5fd1;text-decoration:none}nav a.here{font-weight:600;color:#1d2330}table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.5rem 0 1rem}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e2e4ea;vertical-align:top}td form{display:inline}td button,form.row button{padding:.25rem .6rem;font-size:.85rem}
form.row{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin:.5rem 0 1rem}label{display:flex;flex-direction:column;font-size:.8rem;color:#5b6272}label.check{flex-direction:row;gap:.3rem;font-size:.9rem}
input,select,textarea{font:inherit;font-size:.9rem;padding:.3rem .4rem;border:1px solid #c6cad3;border-radius:6px}.ok{color:#16794a}.bad{color:#b3261e}
.secret{font-family:ui-monospace,monospace;background:#fff4d6;padding:.5rem;border-radius:6px;word-break:break-all}pre{white-space:pre-wrap;word-break:break-all;font-size:.8rem;background:#f4f5f7;padding:.5rem;border-radius:6px}`;

const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

/**
 * Strict CSP for our pages: nothing loads from anywhere, the one inline style is allowed by hash,
 * forms post only to us (and, since browsers apply form-action to the redirects that follow a
 * POST, to the client's redirect origin when the form ends the flow there).
 */
export function pageCsp(formTargets: string[] = []): string {
  return [
    "default-src 'none'",
    `style-src ${STYLE_HASH}`,
    `form-action 'self'${formTargets.map((t) => ` ${t}`).join('')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** One of our pages: the one stylesheet (allowed by its hash), `body` already escaped; `wide` for tables (the admin console). */
export function page(title: string, body: string, o: { wide?: boolean } = {}): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${esc(title)}</title><style>${STYLE}</style></head><body><main${o.wide ? ' class="wide"' : ''}>${body}</main></body></html>`;
}

export interface ConsentView {
  tenantName: string;
  clientName: string;
  clientId: string;
  redirectHost: string;
  scopes: string[];
  action: string;
  csrf: string;
}

/**
 * Scopes as list items, as the consent page and the account page show them: the history scopes reach
 * past the app's own tools, so they come first, in plain words and bold; the tool scopes follow.
 */
export function scopeItems(scopes: readonly string[]): string {
  const history = HISTORY_SCOPES.filter((h) => scopes.includes(h.scope));
  const items = [
    ...history.map((h) => `<li data-scope="${esc(h.scope)}"><strong>${esc(h.consent)}</strong> <code>${esc(h.scope)}</code></li>`),
    ...scopes.filter((s) => !history.some((h) => h.scope === s)).map((s) => `<li><code>${esc(s)}</code></li>`),
  ];
  return items.length ? items.join('') : '<li>sign-in only</li>';
}

export function consentPage(v: ConsentView): string {
  const scopes = scopeItems(v.scopes);
  return page(
    `Allow ${v.clientName}?`,
    `<h1>Allow <strong>${esc(v.clientName)}</strong> to use ${esc(v.tenantName)} as you?</h1>
<p>After you allow it, you will be sent to <span class="host">${esc(v.redirectHost)}</span>. Only continue if you started this from an app you trust at that address.</p>
<p>It asks for:</p><ul>${scopes}</ul>
<p class="muted">Client id: <code>${esc(v.clientId)}</code></p>
<form method="post" action="${esc(v.action)}"><input type="hidden" name="csrf" value="${esc(v.csrf)}">
<div class="actions"><button class="allow" type="submit" name="decision" value="allow">Allow</button><button type="submit" name="decision" value="deny">Deny</button></div></form>`,
  );
}

/** The browser's error page for the sign-in and account routes: the stable code (also as `data-error`) and a safe message. */
export function errorPage(code: string, message: string, requestId: string): string {
  return page(
    'Sign-in error',
    `<h1 data-error="${esc(code)}">This cannot continue</h1><p>${esc(message)}</p><p class="muted"><code>${esc(code)}</code> · request ${esc(requestId)}</p>`,
  );
}
