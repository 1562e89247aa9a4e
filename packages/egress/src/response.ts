import { AppError, isAppError } from '@mcprt/errors';
import type { Dispatcher } from 'undici';
import type { EgressResponse } from './egress.js';
import { fetchFailure, tooLarge } from './failures.js';

/** What reading an answer needs: whose request it was, its cap, and the exchange's deadline. */
export interface ReadContext {
  service: string;
  /** The caller's signal (its abort is a cancellation). */
  callerSignal: AbortSignal;
  /** The exchange's signal (the caller's plus the deadline). */
  signal: AbortSignal;
  cap: number;
  /** Ends the deadline: called once the body is read or reading failed. */
  clear(): void;
}

/** The answer as the egress hands it out: body capped while it streams, each reader usable once. */
export function egressResponse(res: Dispatcher.ResponseData, r: ReadContext): EgressResponse {
  const headers = toHeaders(res.headers);
  const declared = Number(headers.get('content-length') ?? NaN);
  if (declared > r.cap) {
    res.body.destroy();
    throw tooLarge(r.service, r.cap);
  }
  let used = false;
  const bytes = async (): Promise<Uint8Array> => {
    if (used) throw new AppError('internal', 'body_used', `${r.service} response body already read`);
    used = true;
    try {
      return await readCapped(res.body, r.cap, r.service);
    } catch (cause) {
      if (isAppError(cause)) throw cause;
      throw fetchFailure(r.callerSignal, r.service, r.signal, cause, 'upstream_unreachable', 'failed while sending its response');
    } finally {
      r.clear();
    }
  };
  const text = async () => new TextDecoder().decode(await bytes());
  const json = async () => {
    const body = await text();
    try {
      return JSON.parse(body) as unknown;
    } catch (cause) {
      throw new AppError('upstream', 'upstream_bad_response', `${r.service} answered with invalid JSON`, { cause, retryable: true, expose: true });
    }
  };
  return { status: res.statusCode, headers, bytes, text, json };
}

async function readCapped(body: Dispatcher.ResponseData['body'], cap: number, service: string): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > cap) {
      body.destroy();
      throw tooLarge(service, cap);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function toHeaders(raw: Dispatcher.ResponseData['headers']): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
  }
  return h;
}
