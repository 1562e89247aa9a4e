import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from './wait-for.js';

/** What the test tool `echo` reports from inside the worker when given a probe URL: its start, its end, the abort it observed. */
export interface ProbeEvent {
  event: string;
  message: string;
}

/** A loopback HTTP endpoint collecting `echo`'s reports into `events`; `saw` waits for one. */
export async function startEchoProbe(events: ProbeEvent[] = []) {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      events.push(JSON.parse(body) as ProbeEvent);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/probe`,
    events,
    saw: (event: string, message: string) => waitFor(`${event} of ${message}`, async () => events.find((e) => e.event === event && e.message === message)),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export type EchoProbe = Awaited<ReturnType<typeof startEchoProbe>>;
