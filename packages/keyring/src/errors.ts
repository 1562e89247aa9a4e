import { AppError } from '@mcprt/errors';

/**
 * Error codes this package throws. All are 'internal': a sealing failure is
 * either a bug, tampering or a misconfigured keyring, never something the
 * client can fix, so the message stays in the process (expose: false) and a
 * queued job must not retry into the same failure (retryable: false).
 */
export type CryptoErrorCode = 'keyring_invalid' | 'seal_context_invalid' | 'seal_malformed' | 'seal_unknown_key' | 'seal_invalid';

/**
 * Callers must pass messages that name the problem only: never plaintext,
 * key material or the sealed string itself.
 */
export function cryptoError(code: CryptoErrorCode, message: string, cause?: unknown): AppError {
  return new AppError('internal', code, message, { cause, expose: false, retryable: false });
}
