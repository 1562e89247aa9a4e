import { AppError, type AppErrorOptions, type ErrorKind } from './app-error.js';

/** How an error body is shaped on the JSON wire. */
export type ErrorBodyShape =
  /** `{ error, error_description, request_id }`: the OAuth 2.0 error shape (RFC 6749 §5.2, RFC 6750 §3), used by every route. */
  | 'oauth'
  /** `{ error: { code, message }, ...attached }`: an error that carries the resource it is about (a finished call's view). */
  | 'nested';

export interface ErrorSpec {
  kind: ErrorKind;
  status: number;
  /** Safe to show a client; a call site may give a more specific safe message. */
  message: string;
  /** Whether trying again later can succeed (a queued job retries; a client is told to). */
  retryable: boolean;
  /** JSON-RPC error code when the MCP endpoint answers it as a protocol error (else -32603 internal error). */
  rpcCode?: number;
  shape?: ErrorBodyShape;
}

const spec = (kind: ErrorKind, status: number, message: string, more: Partial<ErrorSpec> = {}): ErrorSpec => ({
  kind,
  status,
  message,
  retryable: false,
  ...more,
});

/**
 * Every error code the runtime answers with or records: its kind, HTTP status, safe default message,
 * retryability and, where it has one, its JSON-RPC code. Codes are stable: clients and tests match
 * them. A code thrown anywhere in apps/ or packages/ is listed here (catalogue.test.ts checks it).
 */
export const ERRORS = {
  // The request itself.
  bad_request: spec('validation', 400, 'bad request'),
  bad_request_target: spec('validation', 400, 'malformed request target'),
  payload_too_large: spec('validation', 413, 'request body too large'),
  unsupported_media_type: spec('validation', 415, 'unsupported media type'),
  invalid_request: spec('validation', 400, 'invalid request'),
  invalid_query: spec('validation', 400, 'invalid query parameter'),
  invalid_cursor: spec('validation', 400, 'invalid cursor'),
  invalid_arguments: spec('validation', 400, 'invalid tool arguments'),
  host_not_allowed: spec('policy', 421, 'this server does not answer for that host'),
  origin_not_allowed: spec('policy', 403, 'Origin not allowed'),
  csrf_invalid: spec('policy', 403, 'the form is missing its CSRF token or it does not match; reload the page'),
  rate_limited: spec('policy', 429, 'rate limit reached; retry later', { retryable: true }),
  // Who is calling.
  missing_token: spec('auth', 401, 'authorization required'),
  invalid_token: spec('auth', 401, 'the access token is not valid'),
  insufficient_scope: spec('policy', 403, 'this request needs a scope the token does not carry'),
  not_signed_in: spec('auth', 403, 'sign in from your MCP app first'),
  operator_sign_in_required: spec('auth', 401, 'sign in to the admin console with an API key holding the admin scope'),
  operator_sign_in_failed: spec('auth', 401, 'that API key does not open this admin console (unknown, revoked, or without the admin scope)'),
  upstream_login_failed: spec('auth', 400, 'signing in with the identity provider failed'),
  // What is asked for.
  not_found: spec('not_found', 404, 'not found'),
  tenant_not_found: spec('not_found', 404, 'no such tenant'),
  call_not_found: spec('not_found', 404, 'no such tool call'),
  grant_not_found: spec('not_found', 404, 'no such grant'),
  client_not_found: spec('not_found', 404, 'no such OAuth client'),
  user_not_found: spec('not_found', 404, 'no such user'),
  credential_not_found: spec('not_found', 404, 'no such connected provider'),
  api_key_not_found: spec('not_found', 404, 'no such active API key'),
  owner_missing: spec('not_found', 404, 'the owner of this record no longer exists'),
  call_final: spec('policy', 409, 'the call has already finished', { shape: 'nested' }),
  // Approval before a call runs (the tenant's approval rules).
  approval_expired: spec('policy', 409, 'nobody approved this call in time; it did not run'),
  approval_changed: spec('policy', 409, 'these are not the arguments of the call awaiting approval; read the call again'),
  approval_denied: spec('policy', 403, 'the approver denied this call; it did not run'),
  // Input a tool asks the client for before it runs (MCP multi-round-trip requests): JSON-RPC -32602.
  request_state_invalid: spec('validation', 400, 'the requestState does not belong to this request; call the tool again without it', { rpcCode: -32602 }),
  request_state_expired: spec('validation', 400, 'the requestState has expired; call the tool again without it', { rpcCode: -32602 }),
  input_responses_invalid: spec('validation', 400, 'an input response does not answer the request it names', { rpcCode: -32602 }),
  input_responses_too_large: spec('validation', 400, 'the input responses are too large', { rpcCode: -32602 }),
  input_rounds_exceeded: spec('validation', 400, 'the tool asked for input too many times; call it again', { rpcCode: -32602 }),
  input_expired: spec('policy', 409, 'nobody answered what this call asked in time; it did not run'),
  input_unsupported: spec('policy', 400, 'this tool asks for input while it is called, which needs a client speaking MCP 2026-07-28'),
  // Tools and their credentials.
  unknown_tool: spec('policy', 403, 'unknown tool'),
  tool_disabled: spec('policy', 403, 'this tool is not enabled for this tenant'),
  credential_missing: spec('policy', 403, 'connect the provider first'),
  credential_unavailable: spec('policy', 403, 'connect the provider first'),
  principal_has_no_upstream_account: spec('policy', 403, "this tool runs with a person's upstream account; a machine client has none"),
  upstream_scope_missing: spec('policy', 403, 'the provider sign-in does not allow this; grant it and call again'),
  credential_expired: spec('policy', 403, 'the provider sign-in has expired; connect again'),
  reauth_required: spec('policy', 403, 'the provider no longer accepts this sign-in; connect again'),
  sensitive_arguments_unavailable: spec('validation', 400, 'the sealed arguments of this call cannot be opened'),
  job_payload_invalid: spec('validation', 400, 'the job payload is invalid'),
  cancelled: spec('upstream', 502, 'the call was cancelled', { retryable: true }),
  tool_timeout: spec('upstream', 502, 'the tool did not answer in time', { retryable: true }),
  tool_unavailable: spec('unavailable', 503, 'the tool is unavailable'),
  credential_refresh_failed: spec('upstream', 502, 'refreshing the provider credential failed'),
  credential_refresh_timeout: spec('unavailable', 503, 'refreshing the provider credential timed out', { retryable: true }),
  // Upstream providers and the egress.
  upstream_error: spec('upstream', 502, 'the upstream service failed'),
  upstream_bad_response: spec('upstream', 502, 'the upstream service answered with an unexpected response'),
  upstream_unauthorized: spec('upstream', 502, 'the upstream service refused the credential'),
  upstream_forbidden: spec('upstream', 502, 'the upstream service refused the request'),
  upstream_not_found: spec('upstream', 502, 'the upstream service found nothing there'),
  upstream_rejected: spec('upstream', 502, 'the upstream service rejected the request'),
  upstream_rate_limited: spec('upstream', 502, 'the upstream service is rate limiting', { retryable: true }),
  tool_failed: spec('upstream', 502, 'the tool failed'),
  result_too_large: spec('upstream', 502, 'the tool produced more than its result limit; narrow the request'),
  upstream_response_too_large: spec('upstream', 502, 'the upstream response is too large'),
  upstream_redirect_loop: spec('upstream', 502, 'the upstream service redirected too often'),
  egress_refused: spec('upstream', 502, 'the outbound request was refused'),
  provider_not_configured: spec('upstream', 502, 'the provider is not configured for this tenant'),
  subject_mismatch: spec('upstream', 502, 'the provider signed in someone else'),
  userinfo_unsupported: spec('upstream', 502, 'the provider does not offer user information'),
  // Our dependencies.
  draining: spec('unavailable', 503, 'this server is shutting down; retry (another replica will answer)', { retryable: true }),
  database_unavailable: spec('unavailable', 503, 'Service temporarily unavailable', { retryable: true, rpcCode: -32053 }),
  queue_unavailable: spec('unavailable', 503, 'Service temporarily unavailable', { retryable: true }),
  idp_unavailable: spec('unavailable', 503, "the tenant's identity provider cannot be reached; retry later", { retryable: true }),
  issuer_unavailable: spec('unavailable', 503, 'the issuer cannot be reached; retry later', { retryable: true }),
  // Bugs and configuration: never shown beyond their code.
  internal_error: spec('internal', 500, 'internal error', { rpcCode: -32603 }),
  idp_not_configured: spec('internal', 500, "the tenant's identity provider client is not configured"),
  issuer_insecure: spec('internal', 500, 'the issuer is not https'),
  issuer_no_jwks: spec('internal', 500, 'the issuer publishes no key set'),
  upstream_misuse: spec('internal', 500, 'internal error'),
  body_used: spec('internal', 500, 'internal error'),
  keyring_invalid: spec('internal', 500, 'internal error'),
  seal_context_invalid: spec('internal', 500, 'internal error'),
  seal_malformed: spec('internal', 500, 'internal error'),
  seal_unknown_key: spec('internal', 500, 'internal error'),
  seal_invalid: spec('internal', 500, 'internal error'),
  /** At start-up: none of the stored secrets sampled opens with SEAL_KEYS (the database was sealed with other keys). */
  keyring_mismatch: spec('internal', 500, 'internal error'),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export const isErrorCode = (code: string): code is ErrorCode => Object.hasOwn(ERRORS, code);

/** The catalogue's entry for a code; a code it does not list is an internal error. */
export function errorSpec(code: string): ErrorSpec {
  return isErrorCode(code) ? ERRORS[code] : ERRORS.internal_error;
}

/**
 * An AppError of a catalogued code: kind, status and retryability from the catalogue, the message
 * the catalogue's unless a more specific safe one is given. Its message is shown to clients unless
 * the code is an internal one (a call site may still say otherwise).
 */
export function appError(code: ErrorCode, message?: string, options: AppErrorOptions = {}): AppError {
  const s: ErrorSpec = ERRORS[code];
  return new AppError(s.kind, code, message ?? s.message, { status: s.status, retryable: s.retryable, expose: s.kind !== 'internal', ...options });
}
