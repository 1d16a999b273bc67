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

// A check over 1,000 services `{"schedule":"0 0 29 2 *","timezone":"Pacific/Chatham","threshold":1000}`
// (each registered at its own minute, never beat): evaluate() and the missed count of each, from a
// cold memo as in a fresh `medic check`. "shared" is how config.ts builds them (one Cron per schedule
// text); "one each" parses the schedule per service. Before the horizon this took ~50 s.
const both = await build({
  stdin: { contents: "export * from './src/core/cron.ts'; export * from './src/core/state.ts';", resolveDir: root, loader: 'ts' },
  bundle: true,
  format: 'esm',
  platform: 'node',
  write: false,
  logLevel: 'warning',
});
const state = await import(`data:text/javascript,${encodeURIComponent(both.outputFiles[0].text)}`);
const NOW = Date.UTC(2026, 10, 29, 12);
const SERVICES = 1000;
const checkOnce = (shared) => {
  const one = shared && state.parseCron('0 0 29 2 *');
  let never = 0;
  for (let i = 0; i < SERVICES; i++) {
    const cron = one || state.parseCron('0 0 29 2 *');
    const spec = { intervalMs: null, schedule: { expr: '0 0 29 2 *', cron, timezone: 'Pacific/Chatham' }, threshold: 1000, graceMs: 60_000, maxRuntimeMs: null };
    const rec = { slug: `leap-${i}`, registeredAt: NOW - (i + 1) * 60_000, lastBeatAt: null, beatSeq: 0, resetAt: null, pause: null, incident: null };
    const ev = state.evaluate(spec, rec, NOW);
    if (ev.deadlineAt === state.NEVER && ev.missedHeartbeats === 0) never++;
  }
  if (never !== SERVICES) throw new Error(`expected every deadline NEVER, got ${never}/${SERVICES}`);
};
console.log('');
console.log(`| check of ${SERVICES} services \`0 0 29 2 *\` Pacific/Chatham, threshold 1000 | ms per check (mean of 5) |`);
console.log('| --- | ---: |');
for (const [label, shared] of [['shared Cron (as config.ts builds it)', true], ['one Cron per service', false]]) {
  checkOnce(shared);
  const started = performance.now();
  for (let i = 0; i < 5; i++) checkOnce(shared);
  console.log(`| ${label} | ${((performance.now() - started) / 5).toFixed(0)} |`);
}
