// `npm run bench` — Medic's benchmark (issue 4). Prints Markdown tables of medians and ratios, all
// measured side by side in this one run. Every measured process runs without NODE_EXTRA_CA_CERTS
// (and without NODE_OPTIONS, proxy variables, MEDIC_CONFIG, MEDIC_DB); all traffic goes to a
// stand-in on 127.0.0.1; everything is written in a temp folder that is removed at the end.
//
//   node bench/run.mjs [--quick] [--keep] [--json <file>] [--only 1,2,3,4] [--speed 20]
//
// Needs hyperfine, /usr/bin/time and libfaketime (Debian/Ubuntu: apt-get install hyperfine time faketime);
// part 8 also PostgreSQL's server binaries (apt-get install postgresql; see bench/pg-cluster.mjs).
// See BENCHMARKS.md.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { everyHundredth, fillDatabase, inspect, overdueCount, recordBeats, ROUTING_KEY, slugOf, writeConfig } from './fixtures.mjs';
import { pgBench, pgTable } from './pg.mjs';
import { replayBench, replayTable } from './replay.mjs';
import { runOverheadBench, runOverheadTable } from './run-overhead.mjs';
import { serveBench, serveTable } from './serve.mjs';
import { startStandIn } from './standin.mjs';

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const KEEP = args.includes('--keep');
const JSON_OUT = args.includes('--json') ? args[args.indexOf('--json') + 1] : null;
/** `--only 1,3`: run only those parts (for working on the bench; the published run has all eight). */
const ONLY = args.includes('--only') ? new Set(args[args.indexOf('--only') + 1].split(',')) : new Set(['1', '2', '3', '4', '5', '6', '7', '8']);
const SPEED = args.includes('--speed') ? Number(args[args.indexOf('--speed') + 1]) : 20;

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'medic');
const BARE = join(ROOT, 'bench', 'bare-beat.cjs');
const UNDICI = join(ROOT, 'bench', 'undici-import.mjs');
const NODE = process.execPath;
const FAKETIME_LIB = ['x86_64-linux-gnu/', 'aarch64-linux-gnu/', '']
  .flatMap((arch) => [`/usr/lib/${arch}faketime/libfaketime.so.1`, `/usr/local/lib/${arch}faketime/libfaketime.so.1`])
  .find((path) => existsSync(path));

const P = QUICK
  ? { beatRounds: 2, beatRuns: 5, beatWarmup: 2, checkRounds: 1, checkRuns: 3, beats: 100_000, deliverServices: 200, deliverRepeats: 1, concurrentBeats: 200, speed: SPEED }
  : { beatRounds: 4, beatRuns: 10, beatWarmup: 2, checkRounds: 2, checkRuns: 5, beats: 1_000_000, deliverServices: 1000, deliverRepeats: 3, concurrentBeats: 200, speed: SPEED };
const CHECK_SIZES = [10, 1000, 10_000, 100_000];
const MAX_CRON_RUNS = 240;
/** Invariants that did not hold; printed after the tables, and the bench exits 1. */
const problems = [];

/** The environment of every measured process. */
const ENV = (() => {
  const env = { ...process.env, PAGERDUTY_ROUTING_KEY: ROUTING_KEY, NO_COLOR: '1' };
  for (const name of ['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS', 'MEDIC_CONFIG', 'MEDIC_DB', 'HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'ALL_PROXY', 'all_proxy']) {
    delete env[name];
  }
  return env;
})();

const say = (line) => process.stderr.write(`${line}\n`);
const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
const ms = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const table = (head, rows) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
const fmtInt = (n) => n.toLocaleString('en-US');

const children = new Set();

/** Runs a process to its end; resolves with its exit code, output and timing (never rejects on a non-zero exit). */
function run(cmd, argv, { env = ENV, timeoutMs = 300_000, stdio } = {}) {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const child = spawn(cmd, argv, { env, stdio: stdio ?? ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c) => (stdout += c));
    child.stderr?.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, stdout, stderr, startedAt, endedAt: performance.now() });
    });
  });
}

async function must(cmd, argv, opts) {
  const r = await run(cmd, argv, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited ${r.code ?? r.signal}\n${r.stderr}${r.stdout}`);
  return r;
}

/** hyperfine with the measured environment; returns its exported results. */
async function hyperfine(argv, work) {
  const out = join(work, `hyperfine-${Date.now()}.json`);
  await must('hyperfine', ['--style', 'none', '--export-json', out, ...argv], { timeoutMs: 900_000 });
  return JSON.parse(readFileSync(out, 'utf8')).results;
}

/**
 * `medic check` under /usr/bin/time: wall (real) and user+sys CPU in ms. With `at`, under faketime:
 * the clock starts at that instant and runs `speed` times faster (timers and timeouts included).
 */
async function timedCheck(config, work, { env = ENV, at, speed = 1, verbose = false } = {}) {
  const timeFile = join(work, 'time.txt');
  const medic = [NODE, BIN, 'check', ...(verbose ? ['-v'] : []), '--config', config];
  // libfaketime is preloaded directly: the `faketime` wrapper keeps a named semaphore per pid in
  // /dev/shm, and a stale one left by a killed process makes it fail ("sem_open: File exists").
  const fake = at && {
    LD_PRELOAD: FAKETIME_LIB,
    FAKETIME: `@${new Date(at).toISOString().slice(0, 19).replace('T', ' ')}${speed === 1 ? '' : ` x${speed}`}`,
    TZ: 'UTC',
    ...(speed === 1 && { FAKETIME_DONT_FAKE_MONOTONIC: '1' }),
  };
  const r = await run('/usr/bin/time', ['-o', timeFile, '-f', '%e %U %S', ...medic], { env: { ...env, ...fake }, timeoutMs: 180_000 });
  const [, user, sys] = readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  return { ...r, wallMs: r.endedAt - r.startedAt, cpuMs: (user + sys) * 1000 };
}

function requireTools() {
  const missing = [];
  for (const [tool, probe] of [
    ['hyperfine', ['hyperfine', ['--version']]],
    ['/usr/bin/time', ['/usr/bin/time', ['-f', '', 'true']]],
  ]) {
    try {
      execFileSync(probe[0], probe[1], { stdio: 'ignore' });
    } catch {
      missing.push(tool);
    }
  }
  if (!FAKETIME_LIB) missing.push('libfaketime');
  if (missing.length > 0) throw new Error(`the bench needs ${missing.join(', ')} (apt-get install hyperfine time faketime)`);
}

async function buildIfMissing() {
  const cli = join(ROOT, 'dist', 'cli.js');
  if (!existsSync(cli)) {
    say('dist/ is missing: building first (npm run build)');
    await must(NODE, [join(ROOT, 'scripts', 'build.mjs')], { env: process.env });
    return;
  }
  const newest = (dir) =>
    readdirSync(dir, { withFileTypes: true }).reduce((t, e) => Math.max(t, e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs), 0);
  if (newest(join(ROOT, 'src')) > statSync(cli).mtimeMs) say('note: dist/ is older than src/; `npm run build` first to measure the current source');
}

/**
 * A migrated database made by the real binary: `medic beat` creates and migrates it (`status` is
 * read-only and creates nothing). It holds that one beat of 'schema-probe', which no benchmark
 * config lists (a check forgets the service; its beat row stays, one among thousands).
 */
async function emptyDatabase(path, work) {
  const probe = join(work, 'schema-probe.json');
  writeFileSync(probe, JSON.stringify({ database: path, services: [{ slug: 'schema-probe' }] }));
  await must(NODE, [BIN, '--config', probe, 'beat', 'schema-probe']);
}

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  const hf = execFileSync('hyperfine', ['--version'], { encoding: 'utf8' }).trim();
  return { nproc, model, node: process.version, hyperfine: hf, sqlite: inspectVersion(), revision: revision(), loadAtStart: loadavg().map((x) => x.toFixed(2)).join(' ') };
}

/** The commit measured, and whether src/ differed from it (read-only git commands). */
function revision() {
  try {
    const git = (...a) => execFileSync('git', ['-C', ROOT, ...a], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = git('status', '--porcelain', '--', 'src', 'scripts', 'package.json') !== '';
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' with uncommitted changes in src/' : ''}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

function inspectVersion() {
  try {
    return execFileSync(NODE, ['-e', "const D=require('better-sqlite3');const d=new D(':memory:');console.log(d.prepare('select sqlite_version() v').get().v)"], {
      encoding: 'utf8',
      cwd: ROOT,
    }).trim();
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------------------------------------
// 1. beat start-up

async function beatStartup(templates, standIn, work) {
  const sizes = [10, 10_000].map((n) => {
    const dir = join(work, `beat-${n}`);
    mkdirSync(dir);
    const db = join(dir, 'medic.db');
    copyFileSync(templates.get(String(n)), db);
    const config = join(dir, 'medic.config.json');
    writeConfig(config, { services: n, database: 'medic.db', eventsUrl: standIn.url });
    const beats = () => inspect(db, (d) => d.prepare('SELECT count(*) AS n FROM beats').get().n);
    return { n, db, config, slug: slugOf(n === 10 ? 5 : 5001), before: beats(), beats, runs: [[], [], []], loads: [] };
  });
  // The three commands run side by side in one hyperfine run per size. Rounds alternate the sizes,
  // so a load change on this shared machine lands on every command alike rather than on one of them.
  for (let round = 1; round <= P.beatRounds; round++) {
    for (const size of sizes) {
      say(`1. beat start-up, ${fmtInt(size.n)} services, round ${round}/${P.beatRounds}: hyperfine, ${P.beatWarmup} warm-up + ${P.beatRuns} runs of each command`);
      const results = await hyperfine(
        [
          '-N',
          '--warmup', String(P.beatWarmup),
          '--runs', String(P.beatRuns),
          '-n', 'medic beat', `${q(NODE)} ${q(BIN)} beat ${size.slug} --config ${q(size.config)}`,
          '-n', "node -e ''", `${q(NODE)} -e ''`,
          '-n', 'bare better-sqlite3 insert (CommonJS)', `${q(NODE)} ${q(BARE)} ${q(size.db)} ${size.slug}`,
        ],
        work,
      );
      results.forEach((r, i) => size.runs[i].push(r));
      size.loads.push(loadavg()[0]);
    }
  }
  return sizes.map((size) => {
    const expected = 2 * P.beatRounds * (P.beatWarmup + P.beatRuns);
    const recorded = size.beats() - size.before;
    if (recorded !== expected) throw new Error(`beat start-up: ${recorded} beats recorded, expected ${expected}`);
    const [medic, node, bare] = size.runs.map(pool);
    // Targets (issue 7): 1.25× at 10 services, 1.40× at 10,000; stretch 1.10× / 1.25×.
    const [target, stretch] = size.n === 10 ? [1.25, 1.1] : [1.4, 1.25];
    const roundRatios = size.runs[0].map((r, i) => r.median / size.runs[2][i].median);
    return {
      services: size.n,
      medic,
      node,
      bare,
      ratio: medic.median / bare.median,
      roundRatios,
      target,
      stretch,
      loads: size.loads,
      cpuRatio: medic.cpu / bare.cpu,
      overNodeMedic: medic.median - node.median,
      overNodeBare: bare.median - node.median,
    };
  });
}

/** One command's hyperfine results from several rounds, as one: median of all runs, mean CPU. */
function pool(results) {
  const times = results.flatMap((r) => r.times).map((t) => t * 1000);
  const runs = results.reduce((n, r) => n + r.times.length, 0);
  const cpu = results.reduce((sum, r) => sum + (r.user + r.system) * r.times.length, 0) / runs;
  return { median: median(times), min: Math.min(...times), max: Math.max(...times), cpu: cpu * 1000, runs };
}

// ---------------------------------------------------------------------------------------------
// 2. check cost

async function checkCost(templates, standIn, work) {
  // Controls beside the sizes: 10,000 services with 1% of the beats (does stored history cost
  // anything?), and 10 and 10,000 services with none due (the cost without paging, and of paging).
  const cases = [
    ...CHECK_SIZES.map((n) => ({ id: String(n), services: n, beats: P.beats, isDue: everyHundredth })),
    { id: '10000-few-beats', services: 10_000, beats: 10_000, isDue: everyHundredth },
    { id: '10-none-due', services: 10, beats: P.beats, isDue: () => false },
    { id: '10000-none-due', services: 10_000, beats: P.beats, isDue: () => false },
  ];
  for (const c of cases) {
    const dir = join(work, `check-${c.id}`);
    mkdirSync(dir, { recursive: true });
    if (!templates.has(c.id)) await makeTemplate(join(dir, 'medic.db.template'), c.services, c.beats, work, c.isDue);
    c.db = join(dir, 'medic.db');
    writeConfig(join(dir, 'medic.config.json'), { services: c.services, database: 'medic.db', eventsUrl: standIn.url });
    c.overdue = overdueCount(c.services, c.isDue);
  }
  standIn.reset();
  const rounds = [];
  const undiciRounds = [];
  for (let round = 1; round <= P.checkRounds; round++) {
    say(`2. check cost, round ${round}/${P.checkRounds}: hyperfine, 1 warm-up + ${P.checkRuns} runs per size, each on a fresh copy of its database`);
    rounds.push(
      await hyperfine(
        [
          '-N',
          '--warmup', '1',
          '--runs', String(P.checkRuns),
          '-L', 'case', cases.map((c) => c.id).join(','),
          '--prepare', `cp -f ${q(join(work, 'check-{case}', 'medic.db.template'))} ${q(join(work, 'check-{case}', 'medic.db'))}`,
          `${q(NODE)} ${q(BIN)} check --config ${q(join(work, 'check-{case}', 'medic.config.json'))}`,
        ],
        work,
      ),
    );
    undiciRounds.push(
      await hyperfine(
        [
          '-N',
          '--warmup', '1',
          '--runs', String(P.checkRuns * 2),
          '-n', 'import undici', `${q(NODE)} ${q(UNDICI)} import`,
          '-n', 'empty ES module', `${q(NODE)} ${q(UNDICI)}`,
        ],
        work,
      ),
    );
  }
  const [withUndici, withoutUndici] = [0, 1].map((i) => pool(undiciRounds.map((results) => results[i])));
  const undiciMs = withUndici.median - withoutUndici.median;
  // Every run must have paged exactly the overdue services, each once per fresh database.
  const runs = P.checkRounds * (1 + P.checkRuns);
  const expected = cases.reduce((sum, c) => sum + c.overdue * runs, 0);
  const accepted = standIn.log.filter((e) => e.status === 202).length;
  if (accepted !== expected || standIn.log.length !== expected) {
    throw new Error(`check cost: the stand-in got ${standIn.log.length} requests (${accepted} accepted), expected ${expected}`);
  }
  for (const c of cases) {
    const down = inspect(c.db, (d) => d.prepare('SELECT count(*) AS n FROM services WHERE incident_id IS NOT NULL').get().n);
    const delivered = inspect(c.db, (d) => d.prepare("SELECT count(*) AS n FROM outbox WHERE status = 'delivered'").get().n);
    if (down !== c.overdue || delivered !== c.overdue) throw new Error(`check cost ${c.id}: ${down} down, ${delivered} delivered, expected ${c.overdue}`);
  }
  const rows = cases.map((c) => ({
    id: c.id,
    services: c.services,
    beats: c.beats,
    overdue: c.overdue,
    ...pool(rounds.map((results) => results.find((r) => r.parameters.case === c.id))),
  }));
  rows.undiciMs = undiciMs;
  rows.loadAfter = loadavg()[0];
  return rows;
}

async function makeTemplate(path, services, beats, work, overdue = everyHundredth) {
  await emptyDatabase(path, work);
  fillDatabase(path, { services, beats, now: Date.now(), overdue });
  return path;
}

// ---------------------------------------------------------------------------------------------
// 3. delivery

async function delivery(standIn, work) {
  const n = P.deliverServices;
  const dir = join(work, 'deliver');
  mkdirSync(dir);
  const template = await makeTemplate(join(dir, 'template.db'), n, n * 10, work, () => true);
  const db = join(dir, 'medic.db');
  const config = join(dir, 'medic.config.json');
  writeConfig(config, { services: n, database: 'medic.db', eventsUrl: standIn.url });

  // a) every request answered 202
  const accepted = [];
  for (let i = 0; i < P.deliverRepeats; i++) {
    say(`3a. delivery of ${fmtInt(n)} triggers, stand-in answering 202 (${i + 1}/${P.deliverRepeats})`);
    copyFileSync(template, db);
    standIn.reset();
    const r = await timedCheck(config, work);
    if (r.code !== 0) throw new Error(`delivery 202: medic check exited ${r.code}\n${r.stderr}`);
    const keys = new Set(standIn.log.map((e) => e.dedupKey));
    if (standIn.log.length !== n || keys.size !== n || standIn.log.some((e) => e.status !== 202)) {
      throw new Error(`delivery 202: ${standIn.log.length} requests for ${keys.size} services, expected ${n} once each`);
    }
    const lastAt = Math.max(...standIn.log.map((e) => e.at));
    accepted.push({ allMs: lastAt - r.startedAt, firstMs: Math.min(...standIn.log.map((e) => e.at)) - r.startedAt, wallMs: r.wallMs, cpuMs: r.cpuMs });
  }
  const ok = {
    services: n,
    allMs: median(accepted.map((a) => a.allMs)),
    firstMs: median(accepted.map((a) => a.firstMs)),
    wallMs: median(accepted.map((a) => a.wallMs)),
    cpuMs: median(accepted.map((a) => a.cpuMs)),
    repeats: accepted.length,
  };

  // b) 429 to every other request, with resolves queued behind half of the triggers
  say(`3b. delivery of ${fmtInt(n)} triggers + ${fmtInt(n / 2)} resolves, stand-in answering 429 to every other request`);
  copyFileSync(template, db);
  standIn.reset();
  const noKey = { ...ENV };
  delete noKey.PAGERDUTY_ROUTING_KEY;
  // Without the routing key the check records the incidents and queues their triggers (exit 78).
  const first = await run(NODE, [BIN, 'check', '--config', config], { env: noKey });
  if (first.code !== 78 || standIn.log.length !== 0) throw new Error(`delivery 429: the first check exited ${first.code}, sent ${standIn.log.length}`);
  const back = Array.from({ length: n / 2 }, (_, i) => slugOf(2 * i));
  recordBeats(db, back, Date.now());
  const second = await run(NODE, [BIN, 'check', '--config', config], { env: noKey });
  if (second.code !== 78 || standIn.log.length !== 0) throw new Error(`delivery 429: the second check exited ${second.code}, sent ${standIn.log.length}`);
  const queued = inspect(db, (d) => d.prepare("SELECT action, count(*) AS n FROM outbox WHERE status = 'pending' GROUP BY action ORDER BY action").all());
  if (JSON.stringify(queued) !== JSON.stringify([{ action: 'resolve', n: n / 2 }, { action: 'trigger', n }])) {
    throw new Error(`delivery 429: queued ${JSON.stringify(queued)}`);
  }
  standIn.setPolicy((index) => (index % 2 === 1 ? 429 : 202));
  // Now with the key, once a minute as cron would: run k starts at the k-th next minute. faketime
  // runs each check's clock (and its timers) SPEED times faster, so an hour of cron fits in minutes.
  const runs = [];
  const runOf = [];
  const verbose = [];
  const startAt = Date.now();
  for (let k = 1; ; k++) {
    if (k > MAX_CRON_RUNS) {
      problems.push(`delivery 429: events still pending after ${MAX_CRON_RUNS} cron runs`);
      break;
    }
    const sentBefore = standIn.log.length;
    const r = await timedCheck(config, work, { at: startAt + k * 60_000, speed: P.speed, verbose: true });
    if (r.code !== 0 && r.code !== 75) throw new Error(`delivery 429: check run ${k} exited ${r.code}\n${r.stderr}`);
    verbose.push(r.stdout);
    const pending = inspect(db, (d) => d.prepare("SELECT count(*) AS n FROM outbox WHERE status = 'pending'").get().n);
    const slice = standIn.log.slice(sentBefore);
    for (let i = sentBefore; i < standIn.log.length; i++) runOf[i] = k;
    runs.push({ run: k, code: r.code, wallMs: r.wallMs, cpuMs: r.cpuMs, requests: slice.length, accepted: slice.filter((e) => e.status === 202).length, pending });
    if (slice.length > 0 || pending === 0) {
      say(`    cron run ${k}: exit ${r.code}, ${slice.length} requests, ${pending} events pending, ${ms(r.wallMs)} ms real wall, ${ms(r.cpuMs)} ms CPU`);
    }
    if (pending === 0) break;
  }
  // Exactly once, by dedup_key and action; no resolve request before its trigger was accepted.
  const seen = new Map();
  const firstRequest = new Map();
  standIn.log.forEach((e, i) => {
    const id = `${e.action} ${e.dedupKey}`;
    if (!firstRequest.has(id)) firstRequest.set(id, i);
    if (e.status === 202) seen.set(id, [...(seen.get(id) ?? []), i]);
  });
  const triggers = [...seen.keys()].filter((id) => id.startsWith('trigger ')).length;
  const resolves = [...seen.keys()].filter((id) => id.startsWith('resolve ')).length;
  const duplicateIds = [...seen].filter(([, v]) => v.length > 1);
  // For each duplicate: which runs accepted it, and what those runs said about that service (-v).
  const duplicateDetails = duplicateIds.map(([id, indices]) => {
    const slug = id.split('medic-heartbeat-')[1];
    const runsInvolved = [...new Set(standIn.log.map((e, i) => (`${e.action} ${e.dedupKey}` === id ? runOf[i] : null)).filter(Boolean))];
    const lines = runsInvolved.flatMap((k) => verbose[k - 1].split('\n').filter((l) => l.includes(` ${slug} `)).map((l) => `run ${k}: ${l}`));
    return { id, acceptedAtRequests: indices, runs: runsInvolved, lines };
  });
  for (const d of duplicateDetails) say(`    DUPLICATE ${d.id}: accepted at requests ${d.acceptedAtRequests.join(', ')}\n      ${d.lines.join('\n      ')}`);
  let outOfOrder = 0;
  for (const slug of back) {
    const trigger = seen.get(`trigger medic-heartbeat-${slug}`)?.[0];
    const resolve = firstRequest.get(`resolve medic-heartbeat-${slug}`);
    if (trigger === undefined || resolve === undefined || resolve < trigger) outOfOrder++;
  }
  const statuses = inspect(db, (d) => d.prepare('SELECT status, count(*) AS n FROM outbox GROUP BY status').all());
  const throttled = {
    services: n,
    speed: P.speed,
    triggers,
    resolves,
    expected: { triggers: n, resolves: n / 2 },
    duplicates: duplicateIds.length,
    duplicateDetails,
    outOfOrder,
    requests: standIn.log.length,
    answered429: standIn.log.filter((e) => e.status === 429).length,
    runs,
    heavyRuns: runs.filter((r) => r.requests > 0).length,
    wallMs: runs.reduce((s, r) => s + r.wallMs, 0),
    cpuMs: runs.reduce((s, r) => s + r.cpuMs, 0),
    outbox: statuses,
  };
  if (triggers !== n || resolves !== n / 2) problems.push(`delivery 429: ${triggers}/${n} triggers and ${resolves}/${n / 2} resolves delivered`);
  if (outOfOrder !== 0) problems.push(`delivery 429: ${outOfOrder} resolves sent before their trigger was accepted`);
  if (duplicateIds.length !== 0) problems.push(`delivery 429: ${duplicateIds.length} events accepted more than once (${duplicateIds.map(([id]) => id).join(', ')})`);
  return { ok, throttled };
}

// ---------------------------------------------------------------------------------------------
// 4. concurrency

async function concurrency(templates, standIn, work) {
  const n = 10_000;
  const count = P.concurrentBeats;
  const loadBefore = loadavg().map((x) => x.toFixed(2)).join(' ');
  const dir = join(work, 'concurrency');
  mkdirSync(dir);
  const db = join(dir, 'medic.db');
  copyFileSync(templates.get(String(n)), db);
  const config = join(dir, 'medic.config.json');
  writeConfig(config, { services: n, database: 'medic.db', eventsUrl: standIn.url });
  const slugs = Array.from({ length: count }, (_, i) => slugOf(i * 50 + 1));
  const seqOf = () => inspect(db, (d) => new Map(d.prepare('SELECT slug, beat_seq FROM services').all().map((r) => [r.slug, r.beat_seq])));
  const beforeSeq = seqOf();
  const beforeRows = inspect(db, (d) => d.prepare('SELECT count(*) AS n FROM beats').get().n);
  standIn.reset();

  // A barrier: each beat waits on a line from a FIFO, then execs node; the bench writes all lines at once.
  const fifo = join(dir, 'start.fifo');
  execFileSync('mkfifo', [fifo]);
  const gate = openSync(fifo, 'r+');
  say(`4. concurrency: ${count} medic beat processes released at once while medic check runs back to back`);
  let ready = 0;
  let onReady;
  const allReady = new Promise((r) => (onReady = r));
  const beats = slugs.map((slug) => {
    const b = { slug, stdout: '', stderr: '', timeFile: join(dir, `time-${slug}.txt`) };
    b.child = spawn('sh', ['-c', 'echo ready; read _ <&3; exec /usr/bin/time -o "$0" -f "%U %S" "$@"', b.timeFile, NODE, BIN, 'beat', slug, '--config', config], {
      env: ENV,
      stdio: ['ignore', 'pipe', 'pipe', gate],
    });
    children.add(b.child);
    b.child.stdout.on('data', (c) => {
      b.stdout += c;
      if (!b.ready && b.stdout.startsWith('ready\n')) {
        b.ready = true;
        if (++ready === count) onReady();
      }
    });
    b.child.stderr.on('data', (c) => (b.stderr += c));
    b.done = new Promise((resolve) =>
      b.child.on('close', (code) => {
        b.endedAt = performance.now();
        b.code = code;
        children.delete(b.child);
        resolve();
      }),
    );
    return b;
  });
  let timer;
  const tooSlow = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('concurrency: beat processes did not get ready in 60 s')), 60_000)));
  await Promise.race([allReady, tooSlow]).finally(() => clearTimeout(timer));

  let beatsDone = false;
  const checks = [];
  const checkLoop = (async () => {
    do {
      const r = await run(NODE, [BIN, 'check', '--config', config]);
      checks.push(r);
    } while (!beatsDone);
  })();
  const releasedAt = performance.now();
  writeSync(gate, '\n'.repeat(count));
  await Promise.all(beats.map((b) => b.done));
  beatsDone = true;
  await checkLoop;
  closeSync(gate);

  const afterSeq = seqOf();
  const afterRows = inspect(db, (d) => d.prepare('SELECT count(*) AS n FROM beats').get().n);
  const counted = slugs.filter((s) => afterSeq.get(s) === beforeSeq.get(s) + 1).length;
  const failures = beats.filter((b) => b.code !== 0 || b.stderr !== '' || b.stdout !== 'ready\n');
  const latencies = beats.map((b) => b.endedAt - releasedAt);
  const cpu = beats.map((b) => {
    const [user, sys] = readFileSync(b.timeFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
    return (user + sys) * 1000;
  });
  const overlapped = beats.filter((b) => checks.some((c) => c.startedAt < b.endedAt && c.endedAt > releasedAt)).length;
  return {
    loadBefore,
    beats: count,
    services: n,
    recorded: afterRows - beforeRows,
    countedPerService: counted,
    failures: failures.length,
    failureSamples: failures.slice(0, 3).map((b) => `${b.slug}: exit ${b.code} ${b.stderr.trim().split('\n')[0] ?? ''}`),
    medianMs: median(latencies),
    worstMs: Math.max(...latencies),
    beatCpuMedianMs: median(cpu),
    beatCpuTotalMs: cpu.reduce((a, b) => a + b, 0),
    checks: checks.length,
    checkCodes: [...new Set(checks.map((c) => c.code))],
    checkStderr: checks.map((c) => c.stderr.trim()).filter(Boolean).slice(0, 2),
    firstCheckMs: checks[0].endedAt - checks[0].startedAt,
    overlapped,
    paged: standIn.log.filter((e) => e.status === 202).length,
  };
}

// ---------------------------------------------------------------------------------------------

function report(m, beat, check, deliver, conc, totalMs) {
  const lines = [];
  const p = (s = '') => lines.push(s);
  p(`## Medic benchmark${QUICK ? ' (QUICK run: fewer repetitions and smaller data; not the published figures)' : ''}`);
  p();
  p(`Machine: ${m.nproc} CPUs (nproc), ${m.model}; Node ${m.node}; ${m.hyperfine}; SQLite ${m.sqlite}. Medic at ${m.revision}.`);
  p('Every measured process ran with NODE_EXTRA_CA_CERTS (and NODE_OPTIONS, proxy variables, MEDIC_CONFIG, MEDIC_DB) unset;');
  p('PagerDuty is a node:http stand-in on 127.0.0.1 inside the bench process. Times are medians in ms, wall clock.');
  p();
  if (beat) {
    p(`### 1. beat start-up (hyperfine -N; ${P.beatRounds} rounds of ${P.beatWarmup} warm-up + ${P.beatRuns} runs of each command side by side, sizes alternating)`);
    p();
    p(
      table(
        ['config', '`medic beat`', "`node -e ''`", 'bare better-sqlite3 insert (CommonJS)', 'medic / bare', 'target (stretch)', 'result', 'medic / bare per round', 'load (1 min) after each round', 'medic above node', 'bare above node'],
        beat.map((b) => [
          `${fmtInt(b.services)} services`,
          ms(b.medic.median),
          ms(b.node.median),
          ms(b.bare.median),
          `${b.ratio.toFixed(2)}×`,
          `≤ ${b.target.toFixed(2)}× (${b.stretch.toFixed(2)}×)`,
          b.ratio <= b.stretch ? 'met (stretch too)' : b.ratio <= b.target ? `met; stretch missed by ${ms(b.medic.median - b.stretch * b.bare.median)} ms` : `**missed** by ${ms(b.medic.median - b.target * b.bare.median)} ms`,
          b.roundRatios.map((r) => `${r.toFixed(2)}×`).join(', '),
          b.loads.map((l) => l.toFixed(1)).join(', '),
          ms(b.overNodeMedic),
          ms(b.overNodeBare),
        ]),
      ),
    );
    p();
    p(`CPU (user+sys, mean): ${beat.map((b) => `${fmtInt(b.services)} services: medic ${ms(b.medic.cpu)}, node ${ms(b.node.cpu)}, bare ${ms(b.bare.cpu)} (medic / bare ${b.cpuRatio.toFixed(2)}×)`).join('; ')}.`);
    p();
  }
  if (check) {
    p(`### 2. check cost (hyperfine -N; ${P.checkRounds} round(s) of 1 warm-up + ${P.checkRuns} runs per size, fresh database copy before each)`);
    p();
    const base = check.find((c) => c.id === '10');
    p(
      table(
        ['services', 'beats stored', 'due (paged)', 'median', 'min … max', 'CPU user+sys', '× the 10-service run', 'µs per added service (from the row above)'],
        check.map((c, i) => [
          `${fmtInt(c.services)}${c.id.includes('-') ? ' (control)' : ''}`,
          fmtInt(c.beats),
          fmtInt(c.overdue),
          ms(c.median),
          `${ms(c.min)} … ${ms(c.max)}`,
          ms(c.cpu),
          `${(c.median / base.median).toFixed(2)}×`,
          i === 0 || c.services <= check[i - 1].services ? '—' : ((1000 * (c.median - check[i - 1].median)) / (c.services - check[i - 1].services)).toFixed(1),
        ]),
      ),
    );
    const k10 = check.find((c) => c.id === '10000');
    const few = check.find((c) => c.id === '10000-few-beats');
    const none = check.find((c) => c.id === '10000-none-due');
    const none10 = check.find((c) => c.id === '10-none-due');
    p();
    p(
      `10,000 / 10 services: ${(k10.median / base.median).toFixed(2)}× (target ≤ 2×: ${k10.median / base.median <= 2 ? 'met' : `missed by ${ms(k10.median - 2 * base.median)} ms`}). ` +
        `10,000 services with ${fmtInt(k10.beats)} vs ${fmtInt(few.beats)} beats stored: ${ms(k10.median)} vs ${ms(few.median)} ms. ` +
        `10,000 services with ${fmtInt(k10.overdue)} vs none due: ${ms(k10.median)} vs ${ms(none.median)} ms ` +
        `(paging them — loading the HTTP client once, then ${fmtInt(k10.overdue)} transitions, outbox rows and requests — costs ${ms(k10.median - none.median)} ms); ` +
        `10 services with 1 vs none due: ${ms(base.median)} vs ${ms(none10.median)} ms. ` +
        `With none due, 10,000 / 10 services: ${(none.median / none10.median).toFixed(2)}×. ` +
        `Marginal cost per configured service from 10,000 to 100,000: ${((1000 * (check.find((c) => c.id === '100000').median - k10.median)) / 90_000).toFixed(1)} µs.`,
    );
    p();
    const u = check.undiciMs;
    p(
      `The one-off import of undici (the HTTP client, loaded by the first send): ${ms(u)} ms (an ES module importing it vs an empty one, side by side). ` +
        `10,000 / 10 services with 1% due: ${(k10.median / base.median).toFixed(2)}× with that import in both runs; ` +
        `${((k10.median - u) / (base.median - u)).toFixed(2)}× without it ((${ms(k10.median)} − ${ms(u)}) / (${ms(base.median)} − ${ms(u)})). ` +
        `With none due (no import at all): ${(none.median / none10.median).toFixed(2)}×. Load (1 min) after part 2: ${check.loadAfter.toFixed(1)}.`,
    );
    p();
  }
  if (deliver) {
    p('### 3. delivery');
    p();
    const o = deliver.ok;
    p(`a) ${fmtInt(o.services)} services down at once, stand-in answering 202 (median of ${o.repeats} runs, one \`medic check\` each):`);
    p();
    p(
      table(
        ['events', 'first accepted after', 'all accepted after', 'events/s', '`medic check` wall', 'CPU user+sys'],
        [[fmtInt(o.services), ms(o.firstMs), ms(o.allMs), fmtInt(Math.round((o.services * 1000) / o.allMs)), ms(o.wallMs), ms(o.cpuMs)]],
      ),
    );
    p();
    const t = deliver.throttled;
    p(
      `b) ${fmtInt(t.services)} triggers and ${fmtInt(t.services / 2)} resolves queued (every other service beat again before delivery), ` +
        `stand-in answering 429 to every other request; \`medic check\` run once a cron minute until nothing is pending, each under faketime ` +
        `with its clock and timers running ${t.speed}× faster (so "real wall" is about 1/${t.speed} of the simulated minute; CPU is real). Runs that sent requests:`,
    );
    p();
    p(
      table(
        ['cron run', 'exit', 'requests', 'accepted', 'pending after', 'real wall', 'CPU user+sys'],
        t.runs.filter((r) => r.requests > 0 || r.pending === 0).map((r) => [r.run, r.code, fmtInt(r.requests), fmtInt(r.accepted), fmtInt(r.pending), ms(r.wallMs), ms(r.cpuMs)]),
      ),
    );
    p();
    const idle = t.runs.filter((r) => r.requests === 0 && r.pending > 0);
    p(
      `Cron runs needed: ${t.runs.length} (${t.heavyRuns} sent requests; ${idle.length} found every pending event waiting for its retry time and sent nothing, ` +
        `${idle.length ? `median CPU ${ms(median(idle.map((r) => r.cpuMs)))} ms` : '—'}). ` +
        `Requests: ${fmtInt(t.requests)} (${fmtInt(t.answered429)} answered 429) for ${fmtInt(t.expected.triggers + t.expected.resolves)} events. ` +
        `Accepted exactly once by dedup_key and action: ${fmtInt(t.triggers)}/${fmtInt(t.expected.triggers)} triggers, ${fmtInt(t.resolves)}/${fmtInt(t.expected.resolves)} resolves; ` +
        `accepted more than once: ${t.duplicates}; resolves sent before their trigger was accepted: ${t.outOfOrder}. ` +
        `CPU per run that sent requests: median ${ms(median(t.runs.filter((r) => r.requests > 0).map((r) => r.cpuMs)))} ms, against a 40 s simulated budget.`,
    );
    p();
  }
  if (conc) {
    p(`### 4. concurrency (${conc.beats} \`medic beat\` processes released at the same instant, ${fmtInt(conc.services)}-service config, \`medic check\` running back to back)`);
    p();
    p(
      table(
        ['beats started', 'beats recorded', 'failures', 'median latency', 'worst latency', 'beats overlapping a check', 'checks run (exit codes)'],
        [[conc.beats, `${conc.recorded} (${conc.countedPerService} services +1)`, conc.failures, ms(conc.medianMs), ms(conc.worstMs), conc.overlapped, `${conc.checks} (${conc.checkCodes.join(', ')})`]],
      ),
    );
    if (conc.failureSamples.length) p(`\nFailures: ${conc.failureSamples.join('; ')}`);
    if (conc.checkStderr.length) p(`\nCheck stderr: ${conc.checkStderr.join('; ')}`);
    p();
    p(
      `Latency is from the release of the barrier to the exit of each process (node start-up included). The ${conc.beats} beats used ` +
        `${ms(conc.beatCpuTotalMs)} ms of CPU in all (median ${ms(conc.beatCpuMedianMs)} ms each): on ${m.nproc} CPUs that alone takes at least ` +
        `${ms(conc.beatCpuTotalMs / Number(m.nproc))} ms, so the worst latency is mostly the queue for a CPU; the first check took ${ms(conc.firstCheckMs)} ms under that load.`,
    );
    p();
  }
  p(
    `Bench wall time: ${(totalMs / 1000).toFixed(0)} s. Load average (1/5/15 min) at the start: ${m.loadAtStart}` +
      `${conc ? `; when part 4 started: ${conc.loadBefore} (part 4 itself then puts ${conc.beats} processes on the CPUs)` : ''}.`,
  );
  return lines.join('\n');
}

async function main() {
  const t0 = performance.now();
  requireTools();
  await buildIfMissing();
  const work = mkdtempSync(join(tmpdir(), 'medic-bench-'));
  const standIn = await startStandIn();
  try {
    const m = machine();
    say(`medic bench${QUICK ? ' --quick' : ''} in ${work} (${m.nproc} CPUs, Node ${m.node}); NODE_EXTRA_CA_CERTS unset for every measured process`);
    const templates = new Map();
    // Part 2 needs every size; parts 1 and 4 only 10 and 10,000 services.
    const sizes = ONLY.has('2') ? CHECK_SIZES : ONLY.has('1') ? [10, 10_000] : ONLY.has('4') ? [10_000] : [];
    if (sizes.length > 0) {
      say(`generating databases: ${sizes.map(fmtInt).join(' / ')} services with ${fmtInt(P.beats)} beats each`);
      for (const n of sizes) {
        const dir = join(work, `check-${n}`);
        mkdirSync(dir);
        templates.set(String(n), await makeTemplate(join(dir, 'medic.db.template'), n, P.beats, work));
      }
    }
    const beat = ONLY.has('1') ? await beatStartup(templates, standIn, work) : null;
    const check = ONLY.has('2') ? await checkCost(templates, standIn, work) : null;
    const deliver = ONLY.has('3') ? await delivery(standIn, work) : null;
    const conc = ONLY.has('4') ? await concurrency(templates, standIn, work) : null;
    const jobRun = ONLY.has('5') ? await runOverheadBench({ work, bin: BIN, env: ENV, runs: QUICK ? 5 : 20, warmup: QUICK ? 1 : 3 }) : null;
    const replay = ONLY.has('6') ? await replayBench({ work, bin: BIN, env: ENV, runs: QUICK ? 2 : 5 }) : null;
    const served = ONLY.has('7') ? await serveBench({ work, bin: BIN, env: ENV, quick: QUICK }) : null;
    for (const x of served?.problems ?? []) problems.push(x);
    const postgres = ONLY.has('8')
      ? await pgBench({ work, bin: BIN, node: NODE, env: ENV, quick: QUICK, deps: { run, hyperfine, pool, makeTemplate, templates, standIn, say, beats: P.beats } })
      : null;
    for (const x of jobRun?.problems ?? []) problems.push(`run overhead: ${x}`);
    for (const x of replay?.problems ?? []) problems.push(x);
    for (const x of postgres?.problems ?? []) problems.push(`PostgreSQL: ${x}`);
    const jobs = [
      jobRun && `### 5. \`medic run\` overhead\n\n${runOverheadTable(jobRun)}`,
      replay && `### 6. \`medic replay\` over 30 days of a 1-minute service (/usr/bin/time; start-up included)\n\n${replayTable(replay)}`,
      served && `### 7. \`medic serve\` throughput and latency (load average when it ended: ${loadavg().map((x) => x.toFixed(2)).join(' ')})\n\n${serveTable(served)}`,
      postgres && `### 8. PostgreSQL (issue 10)\n\n${pgTable(postgres)}`,
    ].filter(Boolean);
    const text = [report(m, beat, check, deliver, conc, performance.now() - t0), ...jobs].join('\n\n');
    process.stdout.write(`${text}\n`);
    if (JSON_OUT) writeFileSync(JSON_OUT, `${JSON.stringify({ quick: QUICK, machine: m, beat, check, deliver, concurrency: conc, run: jobRun, replay, serve: served, postgres, problems }, null, 2)}\n`);
    if (conc && (conc.recorded !== conc.beats || conc.countedPerService !== conc.beats)) problems.push(`concurrency: ${conc.recorded} of ${conc.beats} beats recorded`);
    if (conc && conc.failures !== 0) problems.push(`concurrency: ${conc.failures} medic beat processes failed (${conc.failureSamples.join('; ')})`);
    if (conc && conc.checkCodes.some((c) => c !== 0)) problems.push(`concurrency: medic check exited ${conc.checkCodes.join(', ')} (${conc.checkStderr.join('; ')})`);
    if (problems.length > 0) {
      process.stdout.write(`\n### Invariants that did not hold\n\n${problems.map((x) => `- ${x}`).join('\n')}\n`);
      process.exitCode = 1;
    }
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await standIn.close();
    if (KEEP) say(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  say(`bench failed: ${err.stack ?? err}`);
  process.exitCode = 1;
});
