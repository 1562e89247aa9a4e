/** The egress's request and response shapes (see egress.ts for the rules every request follows). */
export interface Egress {
  request(url: string, init: EgressInit): Promise<EgressResponse>;
  /** Closes pooled connections. */
  close(): Promise<void>;
}

export interface EgressInit {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  signal: AbortSignal;
  timeoutMs?: number;
  /** Largest response body accepted, in bytes (default: the egress's `maxBodyBytes`). */
  maxBodyBytes?: number;
  /** Name used in error messages ("Scavio", "the identity provider"). */
  service: string;
  /** Refuse (`egress_refused`) a redirect to another origin instead of following it without credentials (authenticated API calls). */
  sameOriginRedirectsOnly?: boolean;
  /**
   * fetch's `redirect` mode: `follow` (default) follows as above; `manual` returns the 3xx answer as
   * it is, following nothing; `error` refuses any redirect (`egress_refused`).
   */
  redirect?: 'follow' | 'manual' | 'error';
}

export interface EgressResponse {
  status: number;
  headers: Headers;
  /** The body, at most `maxBodyBytes`. Each reader may be called once. */
  bytes(): Promise<Uint8Array>;
  text(): Promise<string>;
  json(): Promise<unknown>;
}
