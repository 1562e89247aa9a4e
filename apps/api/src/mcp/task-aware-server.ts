import { Server } from '@modelcontextprotocol/server';

/**
 * The SDK's Server, letting a tools/call answer with a task. The SDK validates every tools/call
 * result as a CallToolResult (and gives one without `content` an empty `content`); a CreateTaskResult
 * (`resultType: "task"`, tasks.ts) is another shape, so it is passed around that check untouched.
 * `_wrapHandler` is the SDK's documented hook for subclasses to wrap handlers.
 */
export class TaskAwareServer extends Server {
  protected override _wrapHandler(method: string, handler: Parameters<Server['_wrapHandler']>[1]): ReturnType<Server['_wrapHandler']> {
    if (method !== 'tools/call') return super._wrapHandler(method, handler);
    const validated = super._wrapHandler(method, async (req, ctx) => {
      const out = await handler(req, ctx);
      if ((out as { resultType?: unknown }).resultType === 'task') throw new TaskAnswer(out);
      return out;
    });
    return async (req, ctx) => {
      try {
        return await validated(req, ctx);
      } catch (e) {
        if (e instanceof TaskAnswer) return e.result;
        throw e;
      }
    };
  }

  /**
   * The SDK's teardown, run when each per-request exchange ends, builds a "Connection closed" error
   * for requests still awaiting an answer and as the abort reason of handlers still running. A
   * stateless server sends no requests of its own, and its handler has answered by then: nobody
   * reads that error's stack, which was ≈1.4 % of the API's CPU (V8 captures it at construction).
   * The teardown itself is unchanged (`super._onclose()`, as the SDK requires); only the stack is
   * not captured while it runs.
   */
  protected override _onclose(): void {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super._onclose();
    } finally {
      Error.stackTraceLimit = limit;
    }
  }
}

/** Carries a CreateTaskResult past the SDK's CallToolResult check (see TaskAwareServer). */
class TaskAnswer {
  constructor(readonly result: Awaited<ReturnType<ReturnType<Server['_wrapHandler']>>>) {}
}
