/**
 * `p`, or a rejection once `ms` have passed without it settling (`what` names it in the error). The
 * timer is cleared when `p` settles and never keeps the process alive. `p` itself is not cancelled.
 */
export function withTimeout<T>(p: Promise<T>, ms: number, what = 'the operation'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
