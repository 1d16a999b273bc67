// `medic run` overhead (issue 9): the wall time of `medic run <slug> -- true` against `true` alone,
// side by side in one hyperfine run (-N: no shell), with `medic beat` beside them for scale (a run
// records two signals, a start and an end). Every measured process runs with NODE_EXTRA_CA_CERTS
// (and NODE_OPTIONS, proxy variables, MEDIC_CONFIG, MEDIC_DB) unset; nothing touches the network.
//
//   node bench/run-overhead.mjs [--runs 20] [--warmup 3]   (standalone; bench/run.mjs may call runOverheadBench)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exec, median } from './fixtures.mjs';

const SLUG = 'nightly-job';
const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

/** The environment of every measured process. */
export function measuredEnv(base = process.env) {
  const env = { ...base, NO_COLOR: '1' };
  for (const name of ['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS', 'MEDIC_CONFIG', 'MEDIC_DB', 'HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'ALL_PROXY', 'all_proxy']) {
    delete env[name];
  }
  return env;
}

/**
 * Measures `true`, `medic run <slug> -- true` and `medic beat <slug>` side by side with hyperfine
 * (`runs` runs each after `warmup`), on a one-service config and its database in `work`. Returns
 * medians in ms, the ratio run / true and the overhead in ms, and problems (a run that did not
 * record cleanly: `medic run` exits 0 whatever happens to monitoring, so its stderr is checked).
 */
export async function runOverheadBench({ work, node = process.execPath, bin, env = measuredEnv(), runs = 20, warmup = 3 }) {
  const config = join(work, 'run-overhead.config.json');
  writeFileSync(config, `${JSON.stringify({ database: join(work, 'run-overhead.db'), services: [{ slug: SLUG, interval: '1d' }] })}\n`);
  const problems = [];
  // Creates and migrates the database, and shows that recording works (a warning means it does not).
  const probe = await exec(node, [bin, '--config', config, 'run', SLUG, '--', 'true'], env);
  if (probe.code !== 0 || probe.stderr !== '') problems.push(`medic run -- true: exit ${probe.code}, stderr ${JSON.stringify(probe.stderr)}`);
  const out = join(work, 'run-overhead.json');
  execFileSync(
    'hyperfine',
    [
      '-N',
      '--style', 'none',
      '--warmup', String(warmup),
      '--runs', String(runs),
      '--export-json', out,
      '-n', 'true', 'true',
      '-n', 'medic run -- true', `${q(node)} ${q(bin)} --config ${q(config)} run ${SLUG} -- true`,
      '-n', 'medic beat', `${q(node)} ${q(bin)} --config ${q(config)} beat ${SLUG}`,
    ],
    { env, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const [bare, run, beat] = JSON.parse(readFileSync(out, 'utf8')).results.map((r) => ({
    median: median(r.times) * 1000,
    min: Math.min(...r.times) * 1000,
    max: Math.max(...r.times) * 1000,
    cpu: (r.user + r.system) * 1000,
  }));
  return { runs, warmup, bare, run, beat, ratio: run.median / bare.median, overheadMs: run.median - bare.median, problems };
}

const ms = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

/** The Markdown table for BENCHMARKS.md. */
export function runOverheadTable(r) {
  const row = (name, x) => `| ${name} | ${ms(x.median)} | ${ms(x.min)} … ${ms(x.max)} | ${ms(x.cpu)} |`;
  return [
    `hyperfine -N, ${r.warmup} warm-up + ${r.runs} runs of each command side by side; wall clock, ms.`,
    '',
    '| command | median | min … max | CPU user+sys (mean) |',
    '|---|---|---|---|',
    row('`true`', r.bare),
    row('`medic run <slug> -- true`', r.run),
    row('`medic beat <slug>` (for scale)', r.beat),
    '',
    `\`medic run -- true\` / \`true\`: ${r.ratio.toFixed(1)}× (${ms(r.overheadMs)} ms of overhead per run: Node's start-up, the start and end records; ` +
      `${(r.run.median / r.beat.median).toFixed(2)}× one \`medic beat\`).`,
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const option = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
  const work = mkdtempSync(join(tmpdir(), 'medic-bench-run-'));
  try {
    const bin = fileURLToPath(new URL('../bin/medic', import.meta.url));
    const r = await runOverheadBench({ work, bin, runs: option('--runs', 20), warmup: option('--warmup', 3) });
    process.stdout.write(`${runOverheadTable(r)}\n`);
    for (const p of r.problems) process.stderr.write(`problem: ${p}\n`);
    process.exitCode = r.problems.length > 0 ? 1 : 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
