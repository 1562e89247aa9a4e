/**
 * Young-generation collections of the benchmark's app processes, from V8's `--trace-gc-nvp` lines:
 *   MCPRT_APP_NODE_ARGS=--trace-gc-nvp MCPRT_APP_OUTPUT_DIR=<dir> pnpm bench:latency
 *   tsx test/bench/gc-summary.ts <dir>/*.log
 * prints, per process, the medians per scavenge of the pause and of the bytes allocated since the
 * previous one, survived and promoted, over all scavenges and over those that followed at least
 * 150 ms of running (at one call in flight a scavenge comes every 200–600 ms; under load, every
 * 100 ms or less). What survives a scavenge is copied, so it is most of its pause.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

type Scavenge = { pause: number; mutator: number; allocated: number; survived: number; promoted: number };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
};
const kb = (b: number) => `${Math.round(b / 1024)} KB`;

function scavenges(text: string): Scavenge[] {
  const out: Scavenge[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes(' gc=s ')) continue;
    const f = Object.fromEntries(
      line
        .split(/\s+/)
        .map((kv) => kv.split('='))
        .filter((kv) => kv.length === 2),
    ) as Record<string, string>;
    out.push({ pause: +f.pause!, mutator: +f.mutator!, allocated: +f.allocated!, survived: +f.new_space_survived!, promoted: +f.promoted! });
  }
  return out;
}

function summary(xs: Scavenge[]): string {
  if (xs.length === 0) return 'none';
  const survived = median(xs.map((x) => x.survived));
  const allocated = median(xs.map((x) => x.allocated));
  return `${xs.length} scavenges, pause ${median(xs.map((x) => x.pause)).toFixed(2)} ms, allocated ${kb(allocated)}, survived ${kb(survived)} (${((100 * survived) / allocated).toFixed(1)} %), promoted ${kb(median(xs.map((x) => x.promoted)))}`;
}

const files = process.argv.slice(2);
if (files.length === 0) throw new Error('usage: tsx test/bench/gc-summary.ts <log>...');
for (const file of files) {
  const all = scavenges(readFileSync(file, 'utf8'));
  console.log(`${basename(file)}: all: ${summary(all)}`);
  console.log(`${basename(file)}: after >= 150 ms of running: ${summary(all.filter((x) => x.mutator >= 150))}`);
}
