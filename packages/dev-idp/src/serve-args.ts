import { parseArgs } from 'node:util';

export interface ServeArgs {
  port: number;
  host: string;
}

export const SERVE_USAGE = 'usage: tsx packages/dev-idp/src/serve.ts [--port 4000] [--host 127.0.0.1]';

/** Parses `serve.ts` arguments; throws a TypeError whose message is fit for the terminal. */
export function parseServeArgs(argv: readonly string[]): ServeArgs {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      port: { type: 'string', default: '4000' },
      host: { type: 'string', default: '127.0.0.1' },
    },
    strict: true,
    allowPositionals: false,
  });
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || !Number.isSafeInteger(port) || port > 65535) {
    throw new TypeError(`--port must be an integer from 0 to 65535, got ${JSON.stringify(values.port)}`);
  }
  return { port, host: values.host };
}
