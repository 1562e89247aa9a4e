import type { Redis } from 'ioredis';

const COALESCED = Symbol('mcprt.coalescedWrites');

type Stream = NonNullable<Redis['stream']> & { [COALESCED]?: true };

/**
 * Commands given to `redis` in one turn of the event loop leave in one socket write (`writev`)
 * instead of one `write` system call each: the socket is corked at the turn's first command and
 * uncorked in `setImmediate`, the batching postgres.js applies to its own writes. Order and replies
 * are unchanged (one connection, one stream, commands in the order given); a command waits at most
 * until the end of the current loop turn.
 *
 * Why: every ioredis command is its own `write` system call, and on the hot path several are made in
 * the same turn — BullMQ's `moveToFinished` right after the lease release, the adds of one group
 * commit, the lease acquires of the jobs one reply delivered; system calls are a large share of a
 * busy worker's CPU (docs/architecture.md, performance). Redis reads the batch in one `read` as well.
 *
 * Installed on each new socket (ioredis replaces it on reconnect). Not for a connection that blocks
 * (`BZPOPMIN`…): BullMQ duplicates its own blocking connection, which this does not touch.
 */
export function coalesceWrites<R extends Redis>(redis: R): R {
  const install = () => {
    const stream = redis.stream as Stream | undefined;
    if (!stream || stream[COALESCED]) return;
    stream[COALESCED] = true;
    const write = stream.write;
    let corked = false;
    const flush = () => {
      corked = false;
      stream.uncork();
    };
    stream.write = function (this: Stream, ...args: unknown[]) {
      if (!corked) {
        corked = true;
        stream.cork();
        setImmediate(flush);
      }
      return (write as (...a: unknown[]) => boolean).apply(this, args);
    } as Stream['write'];
  };
  redis.on('connect', install);
  install();
  return redis;
}
