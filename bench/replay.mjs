// `medic replay` over 30 days of a 1-minute service (issue 9): 43,200 beats with a few outages,
// 43,200 simulated checks. Measures the real binary end to end (start-up included) under
// /usr/bin/time: wall time and peak RSS. Reads only; nothing is sent (the config's target is a
// loopback URL nobody listens on, and replay never sends anyway).
//
//   node bench/replay.mjs [--runs 5]     (standalone; bench/run.mjs may call replayBench instead)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { exec, median, ROUTING_KEY } from './fixtures.mjs';

const MINUTE = 60_000;
const DAY = 1440 * MINUTE;
const DAYS = 30;
const SLUG = 'minute-job';
/** Outages: [day, minute of the day, minutes without a beat]. */
const OUTAGES = [
  [3, 120, 20],
  [8, 600, 45],
  [13, 30, 10],
  [20, 900, 90],
  [27, 1200, 15],
];

/**
 * A config with one 1-minute service (grace 1m: down 2 minutes after its last beat) and a
 * database holding 30 days of its beats, the outages above, and the transitions that really
 * paged them. The schema comes from the real binary (`medic beat`), as bench/fixtures.mjs does.
 */
async function fixture(work, { node, bin, env }) {
  const config = join(work, 'replay.config.json');
  const database = join(work, 'replay.db');
  writeFileSync(
    config,
    `${JSON.stringify({
      database,
      retention: '31d',
      defaults: { interval: '1m', grace: '1m' },
      targets: { oncall: { type: 'pagerduty', routingKeyEnv: 'PAGERDUTY_ROUTING_KEY', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' } },
      services: [{ slug: SLUG }],
    })}\n`,
  );
  await run(node, [bin, '--config', config, 'beat', SLUG], env);
  const end = Math.floor(Date.now() / MINUTE) * MINUTE;
  const start = end - DAYS * DAY;
  const silent = new Set();
  const transitions = [];
  for (const [day, minute, length] of OUTAGES) {
    const first = start + day * DAY + minute * MINUTE;
    for (let i = 0; i < length; i++) silent.add(first + i * MINUTE);
    transitions.push(['up', 'down', first + MINUTE, 'no beat within 2m of the last beat'], ['down', 'up', first + length * MINUTE, 'beat']);
  }
  const db = new Database(database);
  let beats = 0;
  try {
    db.transaction(() => {
      db.prepare('DELETE FROM beats').run();
      const beat = db.prepare('INSERT INTO beats (slug, at) VALUES (?, ?)');
      for (let at = start; at < end; at += MINUTE) {
        if (silent.has(at)) continue;
        beat.run(SLUG, at);
        beats++;
      }
      const t = db.prepare('INSERT INTO transitions (slug, from_state, to_state, at, recorded_at, reason) VALUES (?, ?, ?, ?, ?, ?)');
      for (const [from, to, at, reason] of transitions) t.run(SLUG, from, to, at, at, reason);
      db.prepare('UPDATE services SET registered_at = ?, last_beat_at = ?, beat_seq = ? WHERE slug = ?').run(start - MINUTE, end - MINUTE, beats, SLUG);
    })();
  } finally {
    db.close();
  }
  return { config, beats };
}

/** exec, failing on a non-zero exit (the fixture's and the measured commands must succeed). */
async function run(cmd, argv, env) {
  const r = await exec(cmd, argv, env);
  if (r.code !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited ${r.code}\n${r.stderr}`);
  return r.stdout;
}
/**
 * Runs `medic replay <slug> --since 30d --json` `runs` times under /usr/bin/time. Returns the
 * median wall time, the peak RSS of every run, and problems when the replay's own answer is not
 * the hand-known one (every outage paged once, none missed).
 */
export async function replayBench({ work, node = process.execPath, bin, env = process.env, runs = 5 }) {
  const { config, beats } = await fixture(work, { node, bin, env });
  const timeFile = join(work, 'replay-time.txt');
  const walls = [];
  const rss = [];
  const problems = [];
  let report;
  for (let i = 0; i < runs; i++) {
    const startedAt = performance.now();
    const out = await run('/usr/bin/time', ['-o', timeFile, '-f', '%M', node, bin, '--config', config, 'replay', SLUG, '--since', `${DAYS}d`, '--json'], env);
    walls.push(performance.now() - startedAt);
    rss.push(Number(readFileSync(timeFile, 'utf8').trim().split('\n').pop()));
    report = JSON.parse(out).services[0];
  }
  if (report.pages !== OUTAGES.length) problems.push(`replay: ${report.pages} pages, expected ${OUTAGES.length}`);
  if (report.actualPages !== OUTAGES.length) problems.push(`replay: ${report.actualPages} real incidents, expected ${OUTAGES.length}`);
  if (report.uncovered.length !== 0) problems.push(`replay: ${report.uncovered.length} real incidents not covered, expected none`);
  return { beats, checks: DAYS * 1440, runs, medianWallMs: median(walls), walls, peakRssKb: Math.max(...rss), medianRssKb: median(rss), pages: report.pages, problems };
}

/** The Markdown table for BENCHMARKS.md. */
export function replayTable(r) {
  const mb = (kb) => (kb / 1024).toFixed(1);
  return [
    '| replay of | beats | simulated checks | runs | wall (median) | peak RSS (max / median) | pages (real) |',
    '|---|---|---|---|---|---|---|',
    `| 30 days of a 1-minute service | ${r.beats.toLocaleString('en-US')} | ${r.checks.toLocaleString('en-US')} | ${r.runs} | ${r.medianWallMs.toFixed(0)} ms | ${mb(r.peakRssKb)} MB / ${mb(r.medianRssKb)} MB | ${r.pages} (${OUTAGES.length}) |`,
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  execFileSync('/usr/bin/time', ['-f', '', 'true'], { stdio: 'ignore' });
  const args = process.argv.slice(2);
  const runs = args.includes('--runs') ? Number(args[args.indexOf('--runs') + 1]) : 5;
  const work = mkdtempSync(join(tmpdir(), 'medic-bench-replay-'));
  const env = { ...process.env, PAGERDUTY_ROUTING_KEY: ROUTING_KEY, NO_COLOR: '1' };
  for (const name of ['NODE_OPTIONS', 'MEDIC_CONFIG', 'MEDIC_DB']) delete env[name];
  try {
    const bin = fileURLToPath(new URL('../bin/medic', import.meta.url));
    const r = await replayBench({ work, bin, env, runs });
    process.stdout.write(`${replayTable(r)}\n`);
    for (const p of r.problems) process.stderr.write(`problem: ${p}\n`);
    process.exitCode = r.problems.length > 0 ? 1 : 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
