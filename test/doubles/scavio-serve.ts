/**
 * The Scavio double as a process (`pnpm start` runs it when SCAVIO_API_KEY is not set, so the quick
 * start's `web_search` answers — with canned results from results.example.test, never real ones):
 *   node --import tsx test/doubles/scavio-serve.ts --port 4100 --key <key>
 */
import { parseArgs } from 'node:util';
import { startScavioDouble } from './scavio.js';

const { values } = parseArgs({ options: { port: { type: 'string', default: '4100' }, key: { type: 'string' } } });
if (!values.key) {
  process.stderr.write('usage: scavio-serve.ts --port <port> --key <api key the double accepts>\n');
  process.exit(2);
}
const double = await startScavioDouble({ apiKey: values.key, port: Number(values.port) });
process.stdout.write(`Scavio double on ${double.url}\n`);
const stop = () => void double.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
