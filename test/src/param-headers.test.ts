import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './harness/stack.js';

/**
 * `Mcp-Param-*` headers (MCP 2026-07-28) on the wire, against the real API: the fixture
 * `test_custom_headers` mirrors `region` (string), `priority` (integer) and `verbose` (boolean) into
 * `Mcp-Param-Region`, `-Priority`, `-Verbose`; `query` is not mirrored. Every refusal is HTTP 400 with
 * JSON-RPC -32020 and the request's id, and records nothing. Also the hand-written 2020-12 input schema
 * of `json_schema_2020_12_tool`: listed verbatim, and enforced with the zod input still applied.
 */
const ENVELOPE = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'wire', version: '1' },
};
const TOOL = 'test_custom_headers';
const SCOPES = 'tools:test_custom_headers tools:json_schema_2020_12_tool tools:echo';
type RpcBody = { id: unknown; result?: Record<string, unknown>; error?: { code: number; message: string } };

const b64 = (s: string) => `=?base64?${Buffer.from(s, 'utf8').toString('base64')}?=`;

describe('Mcp-Param-* headers must agree with the arguments', () => {
  let s: Stack;
  let auth: Record<string, string>;
  let id = 0;
  beforeAll(async () => {
    s = await startStack({ label: 'param-headers', enabledTools: ['test_custom_headers', 'json_schema_2020_12_tool', 'echo'] });
    await s.connectUser('alice');
    auth = { authorization: `Bearer ${await s.token('alice', { scope: SCOPES })}` };
  });
  afterAll(() => s?.close());

  const count = async () => (await s.db.sql`select count(*)::int as n from tool_calls where tenant_id = ${s.tenant.id}`)[0]!.n as number;
  const call = async (args: Record<string, unknown>, params: Record<string, string>, name = TOOL) => {
    const res = await s.post(
      { jsonrpc: '2.0', id: ++id, method: 'tools/call', params: { name, arguments: args, _meta: ENVELOPE } },
      { ...auth, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name, ...params },
    );
    return { status: res.status, body: (await res.json()) as RpcBody, id };
  };
  const expectRefused = async (args: Record<string, unknown>, params: Record<string, string>, why: RegExp) => {
    const before = await count();
    const r = await call(args, params);
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ id: r.id, error: { code: -32020 } });
    expect(r.body.error!.message).toMatch(why);
    expect(await count()).toBe(before);
    return r;
  };

  it('tools/list carries each declaration as x-mcp-header on its property', async () => {
    const res = await s.post(
      { jsonrpc: '2.0', id: 'l', method: 'tools/list', params: { _meta: ENVELOPE } },
      { ...auth, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' },
    );
    const tools = ((await res.json()) as RpcBody).result!.tools as { name: string; inputSchema: { properties: Record<string, Record<string, unknown>> } }[];
    const props = tools.find((t) => t.name === TOOL)!.inputSchema.properties;
    expect(props.region).toMatchObject({ type: 'string', 'x-mcp-header': 'Region' });
    expect(props.priority).toMatchObject({ type: 'integer', 'x-mcp-header': 'Priority' });
    expect(props.verbose).toMatchObject({ type: 'boolean', 'x-mcp-header': 'Verbose' });
    expect(props.query).not.toHaveProperty('x-mcp-header');
  });

  it.each([
    [
      'plain values',
      { region: 'us-east1', priority: 7, verbose: true, query: 'q' },
      { 'mcp-param-region': 'us-east1', 'mcp-param-priority': '7', 'mcp-param-verbose': 'true' },
    ],
    ['Base64 of non-ASCII text', { region: 'Zürich ' }, { 'mcp-param-region': b64('Zürich ') }],
    ['a literal that only looks like Base64', { region: 'SGVsbG8=' }, { 'mcp-param-region': 'SGVsbG8=' }],
    ['a prefix without the closing ?=', { region: '=?base64?SGVsbG8=' }, { 'mcp-param-region': '=?base64?SGVsbG8=' }],
    ['an integer written 7.0', { region: 'x', priority: 7 }, { 'mcp-param-region': 'x', 'mcp-param-priority': '7.0' }],
    ['header names in any case', { region: 'x', verbose: false }, { 'MCP-PARAM-REGION': 'x', 'mcp-param-VERBOSE': 'false' }],
    ['a null argument without its header', { region: 'x', priority: null }, { 'mcp-param-region': 'x' }],
  ])('accepted: %s', async (_label, args, params) => {
    const r = await call(args, params);
    expect(r.status).toBe(200);
    expect(r.body.error).toBeUndefined();
  });

  it.each([
    ['a string that differs', { region: 'eu-west1' }, { 'mcp-param-region': 'us-east1' }, /Mcp-Param-Region header does not match arguments\.region/],
    ['an integer that differs', { region: 'x', priority: 1 }, { 'mcp-param-region': 'x', 'mcp-param-priority': '2' }, /Priority header does not match/],
    ['a boolean in another case', { region: 'x', verbose: true }, { 'mcp-param-region': 'x', 'mcp-param-verbose': 'True' }, /Verbose header does not match/],
    ['the header missing while the argument is set', { region: 'x' }, {}, /Region header is missing/],
    [
      'a header whose argument is absent',
      { region: 'x' },
      { 'mcp-param-region': 'x', 'mcp-param-priority': '1' },
      /Priority header is sent but arguments\.priority is absent/,
    ],
    [
      'a header for an argument not mirrored',
      { region: 'x', query: 'q' },
      { 'mcp-param-region': 'x', 'mcp-param-query': 'q' },
      /mcp-param-query header names no header-mirrored argument/,
    ],
    ['a header for no argument at all', { region: 'x' }, { 'mcp-param-region': 'x', 'mcp-param-admin': 'true' }, /mcp-param-admin header names no/],
    ['Base64 without its padding', { region: 'Hello' }, { 'mcp-param-region': '=?base64?SGVsbG8?=' }, /not a valid value/],
    ['Base64 with characters outside its alphabet', { region: 'Hello' }, { 'mcp-param-region': '=?base64?SGVs!!!bG8=?=' }, /not a valid value/],
    ['non-canonical Base64 (stray low bits)', { region: 'Hello' }, { 'mcp-param-region': '=?base64?SGVsbG9=?=' }, /not a valid value/],
    [
      'Base64 of bytes that are not UTF-8',
      { region: 'x' },
      { 'mcp-param-region': `=?base64?${Buffer.from([0xff, 0xfe]).toString('base64')}?=` },
      /not a valid value/,
    ],
    ['Base64 that decodes to another value', { region: 'Hello' }, { 'mcp-param-region': b64('Hellp') }, /does not match/],
    ['a large header that disagrees', { region: 'a'.repeat(2000) }, { 'mcp-param-region': 'b'.repeat(8000) }, /does not match/],
  ])('refused: %s', async (_label, args, params, why) => {
    await expectRefused(args, params as Record<string, string>, why);
  });

  it('the official SDK v2 client mirrors the arguments itself (Base64 where needed), and the call runs', async () => {
    const client = await s.client(await s.token('alice', { scope: SCOPES }), { kind: 'v2' });
    expect(client.protocolVersion).toBe('2026-07-28');
    const res = await client.callTool({ name: TOOL, arguments: { region: ' Zürich\n', priority: 3, verbose: true, query: 'q' } });
    expect(res.isError).toBeFalsy();
    expect(JSON.stringify(res.content)).toContain('region=\\" Zürich\\\\n\\" priority=3 verbose=true');
  });

  /** One request written byte for byte (fetch refuses the bytes these cases need). */
  const rawPost = async (headerLine: string, args: Record<string, unknown>): Promise<{ head: string; body: string }> => {
    const url = new URL(s.mcpUrl);
    const body = JSON.stringify({ jsonrpc: '2.0', id: 'raw', method: 'tools/call', params: { name: TOOL, arguments: args, _meta: ENVELOPE } });
    const lines = [
      `POST ${url.pathname} HTTP/1.1`,
      `Host: ${url.host}`,
      `Authorization: ${auth.authorization}`,
      'Content-Type: application/json',
      'Accept: application/json, text/event-stream',
      'MCP-Protocol-Version: 2026-07-28',
      'Mcp-Method: tools/call',
      `Mcp-Name: ${TOOL}`,
      headerLine,
      `Content-Length: ${Buffer.byteLength(body)}`,
      'Connection: close',
    ];
    const raw = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(Number(url.port), url.hostname, () =>
        sock.write(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), Buffer.from(body)])),
      );
      let data = '';
      sock
        .setEncoding('latin1')
        .on('data', (d) => (data += d))
        .on('end', () => resolve(data))
        .on('error', reject);
    });
    const at = raw.indexOf('\r\n\r\n');
    return { head: raw.slice(0, at), body: raw.slice(at + 4) };
  };

  it.each([
    ['a non-ASCII byte sent as is (it must be Base64)', 'Mcp-Param-Region: Z\u00fcrich', 'Z\u00fcrich'],
    ['an internal tab', 'Mcp-Param-Region: a\tb', 'a\tb'],
    ['the header sent twice (joined, it is "x, x")', 'Mcp-Param-Region: x\r\nMcp-Param-Region: x', 'x'],
  ])('refused on the wire: %s', async (_label, line, value) => {
    const before = await count();
    const r = await rawPost(line, { region: value });
    expect(r.head).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(r.body)).toMatchObject({ id: 'raw', error: { code: -32020 } });
    expect(await count()).toBe(before);
  });

  it('surrounding whitespace is not part of the value', async () => {
    const r = await rawPost('Mcp-Param-Region:  \t us-east1 \t', { region: 'us-east1' });
    expect(r.head).toMatch(/^HTTP\/1\.1 200 /);
  });

  it.each([
    ['a bare CR inside the value', 'Mcp-Param-Region: a\rb'],
    ['a control character', 'Mcp-Param-Region: a\u0001b'],
    ['a DEL character', 'Mcp-Param-Region: a\u007fb'],
    ['a header past the 16 KiB limit', `Mcp-Param-Region: ${'a'.repeat(20_000)}`],
  ])('refused by the HTTP parser before the API: %s', async (_label, line) => {
    const before = await count();
    const r = await rawPost(line, { region: 'a' });
    expect(r.head).toMatch(/^HTTP\/1\.1 4(00|31) /);
    expect(await count()).toBe(before);
  });

  it('a 2025-era request is not checked (the headers belong to 2026-07-28)', async () => {
    const res = await s.post(
      { jsonrpc: '2.0', id: 'old', method: 'tools/call', params: { name: TOOL, arguments: { region: 'eu' } } },
      { ...auth, 'mcp-protocol-version': '2025-11-25', 'mcp-param-region': 'us' },
    );
    expect(res.status).toBe(200);
    expect(((await res.json()) as RpcBody).result).toBeDefined();
  });

  it('a tool without declarations refuses any Mcp-Param header, and takes none', async () => {
    const before = await count();
    const bad = await call({ message: 'm' }, { 'mcp-param-message': 'm' }, 'echo');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: -32020 } });
    expect(await count()).toBe(before);
    expect((await call({ message: 'm' }, {}, 'echo')).status).toBe(200);
  });

  describe('a hand-written JSON Schema 2020-12 input', () => {
    const SCHEMA_TOOL = 'json_schema_2020_12_tool';
    it('is listed keyword for keyword', async () => {
      const res = await s.post(
        { jsonrpc: '2.0', id: 'l2', method: 'tools/list', params: { _meta: ENVELOPE } },
        { ...auth, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' },
      );
      const tools = ((await res.json()) as RpcBody).result!.tools as { name: string; inputSchema: Record<string, unknown> }[];
      const schema = tools.find((t) => t.name === SCHEMA_TOOL)!.inputSchema;
      expect(schema).toMatchObject({
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        $defs: { address: { $anchor: 'addressDef' } },
        properties: { address: { $ref: '#/$defs/address' } },
        allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
        if: { properties: { contactMethod: { const: 'phone' } } },
        then: { required: ['phone'] },
        else: { required: ['email'] },
        additionalProperties: false,
      });
    });

    it.each([
      ['the if/then branch unmet (phone chosen, no phone)', { name: 'a', contactMethod: 'phone', email: 'e@x' }, /then/],
      ['a property the schema does not allow', { email: 'e@x', fax: '1' }, /additional properties/],
      ['a $ref-erenced field of the wrong type', { email: 'e@x', address: { city: 5 } }, /address\/city/],
      ['what the schema allows but the zod input bounds (a 201-character name)', { name: 'n'.repeat(201), email: 'e@x' }, /name/],
    ])('refuses %s as a tool error, recording nothing', async (_label, args, why) => {
      const before = await count();
      const r = await call(args, {}, SCHEMA_TOOL);
      expect(r.status).toBe(200);
      expect(r.body.result).toMatchObject({ isError: true });
      expect(JSON.stringify(r.body.result!.content)).toMatch(why);
      expect(await count()).toBe(before);
    });

    it('runs a call the schema allows', async () => {
      const r = await call({ name: 'Ada', contactMethod: 'phone', phone: '123', address: { city: 'London' } }, {}, SCHEMA_TOOL);
      expect(r.body.result).toMatchObject({ content: [{ type: 'text', text: 'Contact Ada by phone.' }] });
      expect(r.body.result!.isError).toBeFalsy();
    });
  });
});
