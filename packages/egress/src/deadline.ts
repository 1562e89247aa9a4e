/**
 * An AbortSignal that fires when `parent` aborts or after `ms`, whichever comes first.
 *
 * Not `AbortSignal.any([parent, AbortSignal.timeout(ms)])`: on Node 20 the composite holds its
 * sources weakly, so under GC pressure the timeout signal can be collected before it fires and the
 * deadline silently disappears (seen in this repo's egress test). Here the timer and the listener
 * keep everything alive until `clear()`.
 */
export function deadline(parent: AbortSignal, ms: number): { signal: AbortSignal; clear(): void } {
  const ac = new AbortController();
  const onAbort = () => ac.abort(parent.reason);
  if (parent.aborted) ac.abort(parent.reason);
  else parent.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => ac.abort(new DOMException(`deadline of ${ms} ms exceeded`, 'TimeoutError')), ms);
  return {
    signal: ac.signal,
    clear() {
      clearTimeout(timer);
      parent.removeEventListener('abort', onAbort);
    },
  };
}
