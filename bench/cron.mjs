// `node bench/cron.mjs` — how long one nextRun / previousRun / countRuns takes (issue 9: a daily
// job's nextRun in well under 100 µs). Bundles src/core/cron.ts in memory with esbuild, then times
// each call over instants spread across 2026 (so DST nights are in the mix), after a warm-up.
import { build } from 'esbuild';
import { performance } from 'node:perf_hooks';

const root = new URL('..', import.meta.url).pathname;
const out = await build({ entryPoints: [`${root}src/core/cron.ts`], bundle: true, format: 'esm', platform: 'node', write: false, logLevel: 'warning' });
const { parseCron, nextRun, previousRun, countRuns } = await import(`data:text/javascript,${encodeURIComponent(out.outputFiles[0].text)}`);

const N = 20_000;
const YEAR_START = Date.UTC(2026, 0, 1);
const instants = Array.from({ length: N }, (_, i) => YEAR_START + Math.floor((i * 365 * 86_400_000) / N) + ((i * 7919) % 60_000));
const HOUR = 3_600_000;

const cases = [
  ['nextRun', '30 2 * * *', 'Europe/Berlin', (c, z, t) => nextRun(c, z, t)],
  ['nextRun', '@daily', 'America/New_York', (c, z, t) => nextRun(c, z, t)],
  ['nextRun', '0 9 * * mon-fri', 'Australia/Adelaide', (c, z, t) => nextRun(c, z, t)],
  ['nextRun', '30 2 * * *', 'UTC', (c, z, t) => nextRun(c, z, t)],
  ['previousRun', '30 2 * * *', 'Europe/Berlin', (c, z, t) => previousRun(c, z, t)],
  ['nextRun', '*/15 * * * *', 'Europe/Berlin', (c, z, t) => nextRun(c, z, t)],
  ['previousRun', '*/15 * * * *', 'Europe/Berlin', (c, z, t) => previousRun(c, z, t)],
  ['nextRun', '@hourly', 'Europe/Berlin', (c, z, t) => nextRun(c, z, t)],
  ['nextRun', '0 0 1 1 *', 'Europe/Berlin', (c, z, t) => nextRun(c, z, t)],
  ['nextRun', '* 2 1 1 *', 'Europe/Berlin', (c, z, t) => nextRun(c, z, t)],
  ['countRuns over 24 h', '*/15 * * * *', 'Europe/Berlin', (c, z, t) => countRuns(c, z, t, t + 24 * HOUR, 1000)],
];

console.log('| call | schedule | zone | µs per call (mean) |');
console.log('| --- | --- | --- | ---: |');
for (const [name, expr, zone, call] of cases) {
  const cron = parseCron(expr);
  const runs = expr === '* 2 1 1 *' ? N / 100 : N;
  for (let i = 0; i < Math.min(2000, runs); i++) call(cron, zone, instants[i]);
  const started = performance.now();
  for (let i = 0; i < runs; i++) call(cron, zone, instants[(i * 7919) % N]);
  const us = ((performance.now() - started) * 1000) / runs;
  console.log(`| ${name} | \`${expr}\` | ${zone} | ${us.toFixed(1)} |`);
}
