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
}

/** Carries a CreateTaskResult past the SDK's CallToolResult check (see TaskAwareServer). */
class TaskAnswer {
  constructor(readonly result: Awaited<ReturnType<ReturnType<Server['_wrapHandler']>>>) {}
}
