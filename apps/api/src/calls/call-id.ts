import { randomBytes } from 'node:crypto';

/** `call_` + 128 random bits (base64url, 22 chars): unguessable, so ids can be shown and polled. */
export const newCallId = () => `call_${randomBytes(16).toString('base64url')}`;
