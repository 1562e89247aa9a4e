import type { z } from 'zod';
import type { Egress } from '@mcprt/egress';
import type { InputDeclaration, InputResponses } from './input-requests.js';
import type { UpstreamBases, UpstreamClient } from './upstream.js';

/** Upstream providers a tool can need a user token for. `idp` = the tenant's own identity provider. */
export type UpstreamProvider = 'idp' | 'google' | 'github';

export interface ToolUser {
  id: string;
  issuer: string;
  subject: string;
  email: string | null;
  displayName: string | null;
}

export interface UpstreamCredential {
  provider: UpstreamProvider;
  /** The user's own upstream access token, opened in the worker just for this run. Never log or return it. */
  accessToken: string;
  scopes: string[];
  expiresAt: Date | null;
}

export interface ToolTenant {
  id: string;
  slug: string;
  idpIssuer: string;
  /** `oidc`, `google` or `github`: how the IdP says who the user is (userinfo, or GitHub's `GET /user`). */
  idpKind: string;
  /** The REST API base of a GitHub-kind provider (`idp` or a connected one); undefined for others. */
  apiBase(provider: string): string | undefined;
  /** The tenant's own Scavio key, sealed (web_search opens it through `services.scavio.tenantKey`). */
  scavioKeySealed: string | null;
}

/** What the worker hands a tool: dependencies come in, never from imports, so a tool runs against test doubles unchanged. */
export interface ToolContext {
  signal: AbortSignal;
  tenant: ToolTenant;
  user: ToolUser;
  credential: UpstreamCredential | undefined;
  /**
   * The authenticated client for the tool's upstream API (Google, GitHub): it adds the user's token,
   * validates every JSON answer with zod and maps every failure (upstream.ts). Present when the tool
   * declares `upstream` with provider `google` or `github`; a tool never builds an Authorization header.
   */
  upstream: UpstreamClient | undefined;
  services: ToolServices;
  /**
   * What the client answered to the tool's input requests (`inputs`), validated against what was
   * asked, by key; empty for a tool that asks nothing. Opened from the call's sealed bundle for this
   * run only: never log it or return it unless the tool's purpose is to.
   */
  inputResponses: InputResponses;
}

export interface ToolServices {
  egress: Egress;
  /** Discovery metadata of an issuer (for userinfo). */
  issuerMetadata(issuer: string): Promise<{ userinfoEndpoint: string | undefined }>;
  scavio: {
    /** The operator's key (SCAVIO_API_KEY). */
    apiKey: string | undefined;
    baseUrl: string;
    style: 'v2' | 'v1-search';
    /** Opens a tenant's own sealed key (bound to that tenant; fails loudly for a key sealed for another). */
    tenantKey(tenantId: string, sealed: string): string;
  };
  /** Where the upstream APIs live (configurable so tests reach the doubles) and the per-request limits. */
  upstream: { bases: UpstreamBases; timeoutMs: number; maxBodyBytes: number };
  /** The reconnect / upgrade link of this deployment (reconnect.ts, bound to PUBLIC_URL). */
  reconnectUrl(tenantSlug: string, provider: string, scopes?: readonly string[]): string;
}

/**
 * An MCP content block a tool may answer with (text, image, audio, an embedded resource). Most tools
 * answer with structured output and one text block; a tool that declares `content` renders its own.
 */
export type ToolContentBlock =
  | { type: 'text'; text: string }
  | { type: 'image' | 'audio'; data: string; mimeType: string }
  | { type: 'resource'; resource: { uri: string; mimeType?: string; text: string } | { uri: string; mimeType?: string; blob: string } };

/** MCP tool annotations (hints to the client; never trusted for security). */
export interface ToolAnnotations {
  /** The tool does not change anything. */
  readOnlyHint: boolean;
  /** The tool reaches outside this deployment (an upstream API). */
  openWorldHint: boolean;
  /** Calling it twice with the same arguments has no further effect. */
  idempotentHint: boolean;
  /** Only meaningful when readOnlyHint is false. */
  destructiveHint?: boolean;
}

/**
 * The registry's contract: everything the API, the worker and the policy layer need to
 * know about a tool, beside the code that runs it.
 */
export interface ToolDefinition<I extends z.ZodObject = z.ZodObject, O extends z.ZodObject = z.ZodObject> {
  name: string;
  title: string;
  description: string;
  input: I;
  /**
   * A hand-written JSON Schema that `tools/list` shows instead of the one generated from `input`, for
   * a schema zod does not express (`$defs`/`$ref`, `if`/`then`/`else`; a conformance fixture). It
   * adds to `input`, never replaces it: the arguments must pass it (the SDK's Ajv, 2020-12) and then
   * `input`, as every tool's do.
   */
  inputJsonSchema?: { type: 'object'; [k: string]: unknown };
  /** When set, results carry `structuredContent` validated against it. */
  output?: O;
  /** Scope the MCP access token must carry to call this tool. */
  mcpScope: string;
  /** Upstream token the tool runs with, and the scopes it needs there. */
  upstream?: { provider: UpstreamProvider; scopes: string[] };
  timeoutMs: number;
  annotations: ToolAnnotations;
  /**
   * The readable text block sent beside `structuredContent` (for models and clients that read only
   * `content`). Default: the result as JSON.
   */
  text?: (out: z.output<O>) => string;
  /**
   * The content blocks of the answer, rendered from the stored result (instead of the one text
   * block of `text`): for tools whose answer is an image, audio or an embedded resource.
   */
  content?: (out: z.output<O>) => ToolContentBlock[];
  /**
   * Largest result accepted, in bytes of JSON. The worker fails a larger result with
   * `result_too_large` instead of storing it; tools cap what they return so they stay under it.
   */
  maxResultBytes?: number;
  /** Argument fields stored as "[redacted]" in tool_calls; their real values travel sealed beside the row (tool_calls.sealed_args) for the run. */
  sensitiveArgs?: string[];
  /**
   * Client capabilities the tool relies on (e.g. `sampling`): a 2026-07-28 request that does not
   * declare them is refused with -32021 before the call is recorded.
   */
  clientCapabilities?: readonly ('sampling' | 'elicitation' | 'roots')[];
  /**
   * The tasks extension (2026-07-28): `required` — a call of this tool is always a task (a request
   * that does not declare the extension is refused with -32021); `optional` (the default for every
   * tool) — a task when the call outlives the short wait (TASK_WAIT_MS); `forbidden` — never a task
   * (the plain wait, then the "still running" answer). Advertised as `execution.taskSupport`.
   */
  taskSupport?: 'forbidden' | 'optional' | 'required';
  /**
   * Input the tool needs from the client before it can run (MCP 2026-07-28 multi-round-trip
   * requests): a pure function of the arguments, the responses gathered so far and the client's
   * declared capabilities, answering the requests still outstanding (none: the call runs). The API
   * evaluates it before anything is recorded (input-required.ts in apps/api); a tool without it
   * pays nothing. See input-requests.ts.
   */
  inputs?: InputDeclaration<z.output<I>>;
  /** Exists only in test/bench deployments. */
  testOnly?: boolean;
  run(ctx: ToolContext, args: z.output<I>): Promise<z.output<O>>;
}

/** Helper that keeps the input/output types of a definition tied together. */
export function defineTool<I extends z.ZodObject, O extends z.ZodObject>(def: ToolDefinition<I, O>): ToolDefinition<I, O> {
  return def;
}

/** Widened form stored in the registry. */
export type AnyTool = ToolDefinition<z.ZodObject, z.ZodObject>;
