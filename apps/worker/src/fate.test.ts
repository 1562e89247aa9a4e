import { AppError } from '@mcprt/errors';
import { upstreamStatusError } from '@mcprt/egress';
import { describe, expect, it } from 'vitest';
import { decideFate } from './fate.js';

const first = { number: 1, max: 3, aborted: false };
const last = { number: 3, max: 3, aborted: false };

describe('decideFate: the one table of what a failure does', () => {
  it.each([
    ['reauth_required', new AppError('policy', 'reauth_required', 'x'), first, { do: 'fail', class: 'reauth' }],
    ['a policy denial', new AppError('policy', 'tool_disabled', 'x'), first, { do: 'fail', class: 'policy' }],
    ['a 5xx with attempts left', upstreamStatusError('U', 503), first, { do: 'retry', class: 'transient' }],
    ['a 5xx on the last attempt', upstreamStatusError('U', 503), last, { do: 'fail', class: 'transient' }],
    ['a timeout', new AppError('upstream', 'tool_timeout', 'x', { retryable: true }), first, { do: 'retry', class: 'timeout' }],
    ['a 4xx', upstreamStatusError('U', 400), first, { do: 'fail', class: 'permanent' }],
    ['a shutdown abort', new AppError('upstream', 'x', 'x'), { ...first, aborted: true }, { do: 'retry', class: 'cancelled' }],
    [
      'a 429 with Retry-After, even on the last attempt',
      upstreamStatusError('U', 429, { retryAfter: '7' }),
      last,
      { do: 'wait', delayMs: 7000, class: 'rate_limited' },
    ],
    ['a 429 without Retry-After', upstreamStatusError('U', 429), first, { do: 'wait', delayMs: 1000, class: 'rate_limited' }],
  ] as const)('%s', (_name, err, attempt, fate) => {
    expect(decideFate(err, attempt)).toEqual(fate);
  });
});
