import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CliError, UsageError } from '../resources.js';

/**
 * `mcp call`: the official MCP SDK client against a tenant endpoint — a smoke test for operators and
 * the README's "call whoami" step. Prints the tool list or one CallToolResult as JSON.
 */
export async function mcpCall(
  io: { out: (line: string) => void },
  input: { url: string | undefined; token: string | undefined; tool: string | undefined; args: string | undefined },
): Promise<number> {
  if (!input.url) throw new UsageError('--url is required (e.g. http://127.0.0.1:3000/t/dev/mcp)');
  if (!input.token) throw new UsageError('--token is required (e.g. TOKEN=$(pnpm cli dev token --tenant dev --user alice))');
  let url: URL;
  try {
    url = new URL(input.url);
  } catch {
    throw new UsageError('--url is not a URL');
  }
  let args: Record<string, unknown> = {};
  if (input.args) {
    try {
      args = JSON.parse(input.args) as Record<string, unknown>;
    } catch {
      throw new UsageError('--args must be a JSON object, e.g. \'{"query":"mcp"}\'');
    }
  }
  const client = new Client({ name: 'mcprt-cli', version: '0.1.0' });
  const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers: { Authorization: `Bearer ${input.token}` } } });
  try {
    await client.connect(transport);
  } catch (e) {
    throw new CliError(`cannot connect to ${url.href}: ${(e as Error).message}`);
  }
  try {
    if (!input.tool) {
      const { tools } = await client.listTools();
      for (const t of tools) io.out(`${t.name.padEnd(12)} ${t.description ?? ''}`);
      return 0;
    }
    const result = await client.callTool({ name: input.tool, arguments: args }, undefined, { timeout: 120_000 });
    io.out(JSON.stringify(result.structuredContent ?? result, null, 2));
    return result.isError ? 1 : 0;
  } finally {
    await client.close();
  }
}
