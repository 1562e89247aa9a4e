/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `fn` every `everyMs` (default 50) until it returns something other than undefined; throw after `ms`. */
export const waitFor = async <T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000, everyMs = 50): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
};
