// Part 8 of `npm run bench` (issue 10; part 7 is `medic serve`, bench/serve.mjs): Medic on
// PostgreSQL against SQLite, side by side in one run, and how far one PostgreSQL carries. A
// throwaway cluster (bench/pg-cluster.mjs, PostgreSQL's durable defaults) on a free loopback port;
// PagerDuty is the bench's loopback stand-in.
//
//   a) `medic check` at 10 / 1,000 / 10,000 services, SQLite and PostgreSQL, the same services and
//      beats (each PostgreSQL database is a copy of its SQLite template), one hyperfine run.
//   b) services pushed to 100,000 (and beyond when the machine allows): where the check passes 10 s;
//      a CPU profile of the check (node --cpu-prof) and PostgreSQL's side (every statement's
//      duration from log_min_duration_statement = 0 on one run; EXPLAIN ANALYZE of the slowest).
//   c) beats per second into one PostgreSQL through the store's own recordBeats (group commit):
//      writers × beats per transaction.
//   d) `medic beat` start-up on PostgreSQL against SQLite, with the cost of loading `pg` and of
//      connecting (hyperfine -N).
//
//   node bench/pg.mjs --ingest [--quick]   (c alone, on a cluster of its own; npm run build first)
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { everyHundredth, overdueCount, slugOf, writeConfig } from './fixtures.mjs';
import { startCluster } from './pg-cluster.mjs';

const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
const fmtInt = (n) => n.toLocaleString('en-US');
const ms = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const table = (head, rows) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

/** The tables a check reads and writes that the bench fills; the rest start empty. */
const FILLED = ['services', 'beats'];

/**
 * Copies the rows of a filled SQLite template (services, beats, the checker's last run) into a
 * migrated, empty PostgreSQL database: the same columns, in the same order (beats keep their
 * order, so ids grow with time as on SQLite). Columns are matched by name; each is cast to the
 * PostgreSQL column's type, 20,000 rows per INSERT … SELECT FROM unnest(…).
 */
export async function copyIntoPostgres(sqlitePath, url) {
  const lite = new Database(sqlitePath, { readonly: true });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows: cols } = await client.query(
      `SELECT table_name AS t, column_name AS c, data_type AS type FROM information_schema.columns
       WHERE table_schema = current_schema() AND table_name = ANY($1) ORDER BY ordinal_position`,
      [[...FILLED, 'checker']],
    );
    const pgType = (t, c) => cols.find((r) => r.t === t && r.c === c)?.type;
    // An instant column may be an epoch-ms number or a timestamp on PostgreSQL.
    const expr = (type, i) => (type.startsWith('timestamp') ? `to_timestamp(c${i} / 1000.0)` : `c${i}`);
    const arrayType = (type) => (type.startsWith('timestamp') ? 'float8' : type === 'character varying' ? 'text' : type);
    await client.query('BEGIN');
    // The schema probe's beat (the migrating `medic beat`) is in the SQLite template too.
    await client.query(`TRUNCATE ${FILLED.join(', ')}`);
    for (const t of FILLED) {
      // Only the columns that hold something (the rest keep their defaults), and the table's indexes
      // dropped for the load and built again after it: a bulk load, not a million index inserts.
      const names = lite
        .prepare(`SELECT name FROM pragma_table_info('${t}')`)
        .all()
        .map((r) => r.name)
        .filter((c) => c !== 'id' && pgType(t, c) && lite.prepare(`SELECT 1 FROM ${t} WHERE ${c} IS NOT NULL LIMIT 1`).get());
      const { rows: indexes } = await client.query(
        `SELECT i.indexname AS name, i.indexdef AS def FROM pg_indexes i
         WHERE i.schemaname = current_schema() AND i.tablename = $1
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`,
        [t],
      );
      for (const i of indexes) await client.query(`DROP INDEX ${i.name}`);
      const types = names.map((c) => pgType(t, c));
      const sql = `INSERT INTO ${t} (${names.join(', ')}) SELECT ${names.map((_, i) => expr(types[i], i)).join(', ')}
                   FROM unnest(${names.map((_, i) => `$${i + 1}::${arrayType(types[i])}[]`).join(', ')}) AS u(${names.map((_, i) => `c${i}`).join(', ')})`;
      let batch = names.map(() => []);
      const flush = async () => {
        if (batch[0].length > 0) await client.query(sql, batch);
        batch = names.map(() => []);
      };
      for (const row of lite.prepare(`SELECT ${names.join(', ')} FROM ${t} ORDER BY rowid`).raw().iterate()) {
        row.forEach((v, i) => batch[i].push(v));
        if (batch[0].length === 20_000) await flush();
      }
      await flush();
      for (const i of indexes) await client.query(i.def);
    }
    const lastRunAt = lite.prepare('SELECT last_run_at FROM checker WHERE id = 1').pluck().get();
    const type = pgType('checker', 'last_run_at');
    await client.query(`UPDATE checker SET last_run_at = ${type?.startsWith('timestamp') ? 'to_timestamp($1 / 1000.0)' : '$1'} WHERE id = 1`, [lastRunAt]);
    await client.query('COMMIT');
    await client.query('VACUUM ANALYZE');
  } finally {
    lite.close();
    await client.end();
  }
}

/**
 * Runs part 8. `deps` are bench/run.mjs's helpers: run (spawn to the end), hyperfine, pool, makeTemplate
 * (a migrated, filled SQLite database), templates (those run.mjs already made, by size), standIn, say.
 */
export async function pgBench({ work, bin, node = process.execPath, env, quick, deps }) {
  const { run, hyperfine, pool, makeTemplate, templates, standIn, say } = deps;
  const P = quick
    ? { beats: 100_000, checkRounds: 1, checkRuns: 3, scaleSizes: [10_000, 30_000], scaleRuns: 1, ingest: { seconds: 3, runs: [['store', [1, 8], [1, 100]], ['bare', [1], [1, 100]]] }, beatRuns: 10 }
    : { beats: 1_000_000, checkRounds: 2, checkRuns: 5, scaleSizes: [10_000, 30_000, 100_000], scaleRuns: 2, ingest: { seconds: 5, runs: [['store', [1, 8], [1, 10, 100]], ['bare', [1, 8], [1, 100]]] }, beatRuns: 20 };
  const problems = [];
  const dir = join(work, 'pg');
  mkdirSync(dir, { recursive: true });
  say('8. PostgreSQL: starting a throwaway cluster');
  const cluster = await startCluster();
  // Interrupted (Ctrl-C, kill): the cluster and its folder go too, then the signal's default ends the bench.
  const onSignal = (signal) => {
    cluster.destroy();
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const server = (await cluster.query('postgres', 'SHOW server_version'))[0].server_version;
    const exec = (argv, opts) => run(node, [bin, ...argv], opts);
    const must = async (argv, opts) => {
      const r = await exec(argv, opts);
      if (r.code !== 0) throw new Error(`medic ${argv.join(' ')} exited ${r.code ?? r.signal}\n${r.stderr}${r.stdout}`);
      return r;
    };
    const createDb = (name) => cluster.query('postgres', `CREATE DATABASE ${name}`);

    /** SQLite template of `n` services with P.beats beats (run.mjs's own when part 2 made it). */
    const liteTemplates = new Map(P.beats === deps.beats ? templates : []);
    const sqliteTemplate = async (n) => {
      if (!liteTemplates.has(String(n))) {
        const d = join(dir, `sqlite-${n}`);
        mkdirSync(d, { recursive: true });
        liteTemplates.set(String(n), await makeTemplate(join(d, 'template.db'), n, P.beats, work));
      }
      return liteTemplates.get(String(n));
    };

    /**
     * A PostgreSQL database made by the real binary (`medic beat` migrates it), filled from the
     * SQLite template of the same size. Every table but beats is then kept aside in the schema
     * bench_orig, and `reset` (the prepare of each measured run) puts them back as they were: the
     * check writes services, transitions, outbox, deliveries and the checker row, never beats
     * (nothing is old enough to prune). A copy of the whole database (CREATE DATABASE … TEMPLATE)
     * would be the same, but takes seconds per run for 1,000,000 beats.
     */
    const pgDatabases = new Map();
    const pgDatabase = async (n, lite) => {
      if (pgDatabases.has(n)) return pgDatabases.get(n);
      const db = `medic_${n}`;
      say(`   filling PostgreSQL ${db}: ${fmtInt(n)} services, ${fmtInt(P.beats)} beats (copied from the SQLite template)`);
      await createDb(db);
      const probe = join(dir, `${db}-probe.json`);
      writeFileSync(probe, JSON.stringify({ database: cluster.urlOf(db), services: [{ slug: 'schema-probe' }] }));
      await must(['--config', probe, 'beat', 'schema-probe']);
      await copyIntoPostgres(lite, cluster.urlOf(db));
      const tables = (await cluster.query(db, "SELECT tablename AS t FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'beats' ORDER BY 1")).map((r) => r.t);
      await cluster.query(db, `CREATE SCHEMA bench_orig; ${tables.map((t) => `CREATE TABLE bench_orig.${t} AS SELECT * FROM ${t};`).join(' ')}`);
      const reset = [`TRUNCATE ${tables.join(', ')} RESTART IDENTITY`, ...tables.map((t) => `INSERT INTO ${t} SELECT * FROM bench_orig.${t}`), `ANALYZE ${tables.join(', ')}`].join('; ');
      const entry = { db, reset };
      pgDatabases.set(n, entry);
      return entry;
    };

    // A case is one store at one size: its config, and the prepare command that gives each measured
    // run the same starting state (cp of the template for SQLite, the reset above for PostgreSQL).
    const makeCase = async (store, n, { id = `${store}-${n}` } = {}) => {
      const d = join(dir, id);
      mkdirSync(d, { recursive: true });
      const lite = await sqliteTemplate(n);
      const c = { id, store, services: n, beats: P.beats, overdue: overdueCount(n, everyHundredth), dir: d, config: join(d, 'medic.config.json') };
      if (store === 'sqlite') {
        writeConfig(c.config, { services: n, database: join(d, 'medic.db'), eventsUrl: standIn.url });
        c.prepare = `cp -f ${q(lite)} ${q(join(d, 'medic.db'))}`;
        c.down = () => {
          const db = new Database(join(d, 'medic.db'), { readonly: true });
          try {
            return db.prepare('SELECT count(*) FROM services WHERE incident_id IS NOT NULL').pluck().get();
          } finally {
            db.close();
          }
        };
      } else {
        const { db, reset } = await pgDatabase(n, lite);
        writeConfig(c.config, { services: n, database: cluster.urlOf(db), eventsUrl: standIn.url });
        c.prepare = cluster.psqlCommand(db, reset).map(q).join(' ');
        c.db = db;
        c.down = async () => Number((await cluster.query(db, 'SELECT count(*) AS n FROM services WHERE incident_id IS NOT NULL'))[0].n);
      }
      const script = join(d, 'prepare.sh');
      writeFileSync(script, `#!/bin/sh\nset -e\n${c.prepare}\n`);
      c.prepareScript = script;
      return c;
    };

    /** hyperfine over cases, a fresh copy before each run; checks every run paged exactly the due services. */
    const measureChecks = async (label, cases, { rounds, runs, warmup }) => {
      standIn.reset();
      const results = [];
      for (let round = 1; round <= rounds; round++) {
        say(`${label}, round ${round}/${rounds}: hyperfine, ${warmup} warm-up + ${runs} runs per case (${cases.map((c) => c.id).join(', ')})`);
        results.push(
          await hyperfine(
            [
              '-N',
              '--warmup', String(warmup),
              '--runs', String(runs),
              '-L', 'case', cases.map((c) => c.id).join(','),
              '--prepare', `sh ${q(join(dir, '{case}', 'prepare.sh'))}`,
              `${q(node)} ${q(bin)} check --config ${q(join(dir, '{case}', 'medic.config.json'))}`,
            ],
            work,
          ),
        );
      }
      const expected = cases.reduce((sum, c) => sum + c.overdue, 0) * rounds * (warmup + runs);
      const accepted = standIn.log.filter((e) => e.status === 202).length;
      if (accepted !== expected || standIn.log.length !== expected) problems.push(`${label}: the stand-in got ${standIn.log.length} requests (${accepted} accepted), expected ${expected}`);
      for (const c of cases) {
        const down = await c.down();
        if (down !== c.overdue) problems.push(`${label} ${c.id}: ${down} services down after the last run, expected ${c.overdue}`);
      }
      return cases.map((c) => ({ id: c.id, store: c.store, services: c.services, beats: c.beats, overdue: c.overdue, ...pool(results.map((r) => r.find((x) => x.parameters.case === c.id))) }));
    };

    // a) side by side at 10 / 1,000 / 10,000 services.
    const sizes = [10, 1000, 10_000];
    const sideCases = [];
    for (const n of sizes) for (const store of ['sqlite', 'pg']) sideCases.push(await makeCase(store, n));
    const side = await measureChecks('8a. check, SQLite and PostgreSQL side by side', sideCases, { rounds: P.checkRounds, runs: P.checkRuns, warmup: 1 });
    side.loadAfter = loadavg()[0];

    // b) how far: services pushed up, on both stores, fewer runs (the big sizes take seconds).
    const scaleCases = [];
    for (const n of P.scaleSizes) for (const store of ['sqlite', 'pg']) scaleCases.push(sideCases.find((c) => c.id === `${store}-${n}`) ?? (await makeCase(store, n)));
    const scale = await measureChecks('8b. check as services grow', scaleCases, { rounds: 1, runs: P.scaleRuns, warmup: 0 });
    scale.loadAfter = loadavg()[0];
    const biggest = scaleCases.filter((c) => c.store === 'pg').at(-1);
    const profile = await profileCheck(biggest, { node, bin, env, cluster, run, say });

    // c) beats per second into one PostgreSQL, through the store's recordBeats.
    const ingest = await ingestBench({ cluster, createDb, bin, node, env, run, say, ...P.ingest, services: 10_000, dir });

    // d) beat start-up.
    const startup = await beatStartup({ cluster, createDb, dir, node, bin, hyperfine, pool, work, runs: P.beatRuns, must, say });

    return { server, params: P, side, scale, profile, ingest, startup, problems };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    cluster.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// b) the profile of the biggest PostgreSQL check: node's side and PostgreSQL's side

async function profileCheck(c, { node, bin, env, cluster, run, say }) {
  say(`8b. profile of medic check at ${fmtInt(c.services)} services on PostgreSQL: node --cpu-prof, then every statement's duration`);
  const profDir = join(c.dir, 'cpu-prof');
  mkdirSync(profDir, { recursive: true });
  const fresh = () => run('sh', [c.prepareScript]);
  await fresh();
  const t0 = performance.now();
  const r = await run(node, ['--cpu-prof', '--cpu-prof-dir', profDir, bin, 'check', '--config', c.config], { env });
  const wallMs = performance.now() - t0;
  if (r.code !== 0) throw new Error(`profiled check exited ${r.code}: ${r.stderr}`);
  const node_ = summarizeProfile(JSON.parse(readFileSync(join(profDir, readdirSync(profDir)[0]), 'utf8')));

  // PostgreSQL's side: one more run on a fresh copy with every statement's duration logged.
  await fresh();
  await cluster.query('postgres', `ALTER DATABASE ${c.db} SET log_min_duration_statement = 0`);
  const logStart = readFileSync(cluster.log, 'utf8').length;
  const t1 = performance.now();
  const r2 = await run(node, [bin, 'check', '--config', c.config], { env });
  const loggedWallMs = performance.now() - t1;
  if (r2.code !== 0) throw new Error(`logged check exited ${r2.code}: ${r2.stderr}`);
  await cluster.query('postgres', `ALTER DATABASE ${c.db} RESET log_min_duration_statement`);
  const statements = summarizeStatementLog(readFileSync(cluster.log, 'utf8').slice(logStart));
  // EXPLAIN ANALYZE of the slowest statements that read (a SELECT explains without changing anything).
  const explained = [];
  for (const s of statements.top.filter((x) => /^\s*select/i.test(x.sql) && !/\$\d/.test(x.sql)).slice(0, 2)) {
    const plan = await cluster.query(c.db, `EXPLAIN (ANALYZE, BUFFERS) ${s.sql}`);
    explained.push({ sql: s.sql, plan: plan.map((p) => p['QUERY PLAN']).join('\n') });
  }
  return { services: c.services, wallMs, loggedWallMs, node: node_, statements, explained };
}

/** Self time by function (top 12) and by where the code lives (pg, medic, node internals, GC, idle). */
export function summarizeProfile(profile) {
  const { nodes, samples, timeDeltas } = profile;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const self = new Map();
  samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (timeDeltas[i] ?? 0) / 1000));
  const fns = new Map();
  const areas = new Map();
  for (const [id, t] of self) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    const where = url.includes('/node_modules/pg') ? 'pg (client)' : url.includes('/node_modules/') ? 'other packages' : url.includes('/dist/') ? 'medic' : url.startsWith('node:') ? 'node internals' : functionName === '(garbage collector)' ? 'GC' : functionName === '(idle)' ? 'idle (waiting: PostgreSQL, network)' : functionName === '(program)' ? 'program (start-up, native)' : 'native (sockets, files; no JS frame)';
    areas.set(where, (areas.get(where) ?? 0) + t);
    const file = url.split('/').pop() || '';
    const key = `${functionName || '(anonymous)'} ${file}${file ? `:${lineNumber + 1}` : ''}`;
    fns.set(key, { where, ms: (fns.get(key)?.ms ?? 0) + t });
  }
  const totalMs = [...self.values()].reduce((a, b) => a + b, 0);
  return {
    totalMs,
    areas: [...areas].map(([where, t]) => ({ where, ms: t })).sort((a, b) => b.ms - a.ms),
    top: [...fns].map(([fn, v]) => ({ fn, ...v })).sort((a, b) => b.ms - a.ms).slice(0, 12),
  };
}

/** The server log's `duration: X ms  statement|execute …: SQL` lines, summed by statement text. */
export function summarizeStatementLog(text) {
  const re = /duration: ([\d.]+) ms\s+(?:statement|execute [^:]*|parse [^:]*|bind [^:]*): ([\s\S]*?)(?=\n\S|\n*$)/g;
  const by = new Map();
  let total = 0;
  let count = 0;
  for (const m of text.matchAll(re)) {
    const t = Number(m[1]);
    const sql = m[2].replace(/\s+/g, ' ').trim();
    // A statement with parameters logs its parse, bind and execute phases apiece: all server time,
    // one call (counted at its execute; a simple query logs one `statement:` line).
    const call = /^(statement|execute)/.test(m[0].replace(/^duration: [\d.]+ ms\s+/, '')) ? 1 : 0;
    total += t;
    count += call;
    const e = by.get(sql) ?? { sql, calls: 0, ms: 0, maxMs: 0 };
    e.calls += call;
    e.ms += t;
    e.maxMs = Math.max(e.maxMs, t);
    by.set(sql, e);
  }
  return { totalMs: total, statements: count, distinct: by.size, top: [...by.values()].sort((a, b) => b.ms - a.ms).slice(0, 8) };
}

// ---------------------------------------------------------------------------------------------
// c) beats per second: writer processes, each with its own store, calling recordBeats in a loop


async function ingestBench({ cluster, createDb, bin, node, env, run, say, seconds, runs, services, dir }) {
  const db = 'ingest';
  await createDb(db);
  const url = cluster.urlOf(db);
  const probe = join(dir, 'ingest-probe.json');
  writeFileSync(probe, JSON.stringify({ database: url, services: [{ slug: 'schema-probe' }] }));
  const r = await run(node, [bin, '--config', probe, 'beat', 'schema-probe'], { env });
  if (r.code !== 0) throw new Error(`ingest: medic beat on PostgreSQL exited ${r.code}: ${r.stderr}`);
  const workerFile = join(bin, '..', '..', 'bench', 'pg-ingest-worker.mjs');
  const dist = join(bin, '..', '..', 'dist');
  const slugs = Array.from({ length: services }, (_, i) => slugOf(i)).join(',');
  const rows = [];
  for (const [mode, writers, batches] of runs) {
   for (const w of writers) {
    for (const b of batches) {
      say(`8c. ingest (${mode}): ${w} writer(s) × ${b} beat(s) per transaction, ${seconds} s`);
      const before = Number((await cluster.query(db, 'SELECT count(*) AS n FROM beats'))[0].n);
      const children = Array.from({ length: w }, (_, k) => spawnCollect(node, [workerFile, mode, dist, url, slugs, String(b), String(seconds), String(k * 997)], env));
      await Promise.all(children.map((c) => c.ready));
      const t0 = performance.now();
      for (const c of children) c.go();
      const outs = await Promise.all(children.map((c) => c.done));
      const wallMs = performance.now() - t0;
      const after = Number((await cluster.query(db, 'SELECT count(*) AS n FROM beats'))[0].n);
      const beats = outs.reduce((s, o) => s + o.beats, 0);
      const latencies = outs.flatMap((o) => o.latencies).sort((a, c) => a - c);
      rows.push({
        mode,
        writers: w,
        batch: b,
        beats,
        stored: after - before,
        beatsPerSecond: (beats * 1000) / wallMs,
        commitsPerSecond: (latencies.length * 1000) / wallMs,
        p50: latencies[Math.floor(latencies.length * 0.5)],
        p99: latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))],
      });
    }
   }
  }
  return { seconds, services, rows };
}

function spawnCollect(cmd, argv, env) {
  const child = spawn(cmd, argv, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let onReady;
  const ready = new Promise((r) => (onReady = r));
  child.stdout.on('data', (c) => {
    out += c;
    if (out.startsWith('ready\n')) onReady();
  });
  child.stderr.on('data', (c) => (err += c));
  return {
    ready: Promise.race([ready, new Promise((_, reject) => child.on('close', (code) => reject(new Error(`ingest worker exited ${code} before it was ready: ${err}`))))]),
    go: () => child.stdin.write('go\n'),
    done: new Promise((resolve, reject) =>
      child.on('close', (code) => {
        if (code !== 0) reject(new Error(`ingest worker exited ${code}: ${err}`));
        else resolve(JSON.parse(out.slice('ready\n'.length)));
      }),
    ),
  };
}

// ---------------------------------------------------------------------------------------------
// d) beat start-up on PostgreSQL against SQLite


async function beatStartup({ cluster, createDb, dir, node, bin, hyperfine, pool, work, runs, must, say }) {
  const d = join(dir, 'startup');
  mkdirSync(d, { recursive: true });
  await createDb('startup');
  const url = cluster.urlOf('startup');
  const pgConfig = join(d, 'pg.config.json');
  const liteConfig = join(d, 'sqlite.config.json');
  writeConfig(pgConfig, { services: 10, database: url, eventsUrl: 'http://127.0.0.1:9/v2/enqueue' });
  writeConfig(liteConfig, { services: 10, database: join(d, 'medic.db'), eventsUrl: 'http://127.0.0.1:9/v2/enqueue' });
  await must(['beat', slugOf(5), '--config', pgConfig]);
  await must(['beat', slugOf(5), '--config', liteConfig]);
  const root = join(bin, '..', '..');
  const barePg = join(root, 'bench', 'bare-beat-pg.cjs');
  const before = Number((await cluster.query('startup', 'SELECT count(*) AS n FROM beats'))[0].n);
  say(`8d. beat start-up on PostgreSQL and SQLite: hyperfine -N, 3 warm-up + ${runs} runs of each command side by side`);
  const commands = [
    ['medic beat (PostgreSQL)', `${q(node)} ${q(bin)} beat ${slugOf(5)} --config ${q(pgConfig)}`],
    ['medic beat (SQLite)', `${q(node)} ${q(bin)} beat ${slugOf(5)} --config ${q(liteConfig)}`],
    ['bare pg: require, connect, insert', `${q(node)} ${q(barePg)} ${q(url)} ${slugOf(5)}`],
    ["require('pg') only", `${q(node)} -e ${q("require('pg')")}`],
    ['bare better-sqlite3 insert (CommonJS)', `${q(node)} ${q(join(root, 'bench', 'bare-beat.cjs'))} ${q(join(d, 'medic.db'))} ${slugOf(5)}`],
    ["node -e ''", `${q(node)} -e ''`],
  ];
  const results = await hyperfine(['-N', '--warmup', '3', '--runs', String(runs), ...commands.flatMap(([n, c]) => ['-n', n, c])], work);
  const after = Number((await cluster.query('startup', 'SELECT count(*) AS n FROM beats'))[0].n);
  return { runs, rows: commands.map(([name], i) => ({ name, ...pool([results[i]]) })), pgBeatsRecorded: after - before, pgBeatsExpected: 2 * (3 + runs) };
}

// ---------------------------------------------------------------------------------------------

export function pgTable(r) {
  const out = [];
  const p = (s = '') => out.push(s);
  p(`PostgreSQL ${r.server} (throwaway cluster, durable defaults: fsync and synchronous_commit on) on 127.0.0.1; same machine as the client.`);
  p();
  p(`a) \`medic check\`, each case on a fresh copy of the same services and ${fmtInt(r.params.beats)} beats (hyperfine -N; ${r.params.checkRounds} round(s) of 1 warm-up + ${r.params.checkRuns} runs; ms):`);
  p();
  const lite = (n) => r.side.find((c) => c.id === `sqlite-${n}`);
  p(
    table(
      ['services', 'due (paged)', 'SQLite median', 'PostgreSQL median', 'PostgreSQL / SQLite', 'SQLite CPU', 'PostgreSQL CPU (client only)'],
      [10, 1000, 10_000].map((n) => {
        const s = lite(n);
        const g = r.side.find((c) => c.id === `pg-${n}`);
        return [fmtInt(n), fmtInt(s.overdue), ms(s.median), ms(g.median), `${(g.median / s.median).toFixed(2)}×`, ms(s.cpu), ms(g.cpu)];
      }),
    ),
  );
  p();
  p(
    `10,000 / 10 services: SQLite ${(lite(10_000).median / lite(10).median).toFixed(2)}×, PostgreSQL ${(r.side.find((c) => c.id === 'pg-10000').median / r.side.find((c) => c.id === 'pg-10').median).toFixed(2)}×. Load (1 min) after: ${r.side.loadAfter.toFixed(1)}.`,
  );
  p();
  p(`b) As services grow (1% due, ${fmtInt(r.params.beats)} beats; hyperfine, ${r.params.scaleRuns} run(s) each on a fresh copy; ms). Load (1 min) after: ${r.scale.loadAfter.toFixed(1)}:`);
  p();
  const sizes = [...new Set(r.scale.map((c) => c.services))];
  p(
    table(
      ['services', 'SQLite median', 'PostgreSQL median', 'PostgreSQL / SQLite', 'SQLite CPU', 'PostgreSQL CPU (client only)', 'PostgreSQL µs per added service (wall)'],
      sizes.map((n, i) => {
        const s = r.scale.find((c) => c.id === `sqlite-${n}`);
        const g = r.scale.find((c) => c.id === `pg-${n}`);
        const prev = i > 0 ? r.scale.find((c) => c.id === `pg-${sizes[i - 1]}`) : null;
        return [fmtInt(n), ms(s.median), ms(g.median), `${(g.median / s.median).toFixed(2)}×`, ms(s.cpu), ms(g.cpu), prev ? ((1000 * (g.median - prev.median)) / (n - sizes[i - 1])).toFixed(1) : '—'];
      }),
    ),
  );
  const pr = r.profile;
  p();
  p(`Profile of one check at ${fmtInt(pr.services)} services on PostgreSQL (node --cpu-prof; ${ms(pr.wallMs)} ms wall with the profiler), self time by area:`);
  p();
  p(table(['area', 'ms', 'share'], pr.node.areas.map((x) => [x.where, ms(x.ms), `${((100 * x.ms) / pr.node.totalMs).toFixed(0)}%`])));
  p();
  p('Top functions by self time:');
  p();
  p(table(['function', 'area', 'ms'], pr.node.top.map((x) => [`\`${x.fn}\``, x.where, ms(x.ms)])));
  p();
  p(
    `PostgreSQL's side of one more run (log_min_duration_statement = 0; ${ms(pr.loggedWallMs)} ms wall): ${fmtInt(pr.statements.statements)} statements ` +
      `(${pr.statements.distinct} distinct), ${ms(pr.statements.totalMs)} ms in the server in all. The slowest by total time:`,
  );
  p();
  p(table(['statement', 'calls', 'total ms', 'max ms'], pr.statements.top.map((x) => [`\`${x.sql.slice(0, 140).replace(/\|/g, '\\|')}${x.sql.length > 140 ? '…' : ''}\``, fmtInt(x.calls), ms(x.ms), ms(x.maxMs)])));
  for (const e of pr.explained) {
    p();
    p(`EXPLAIN ANALYZE \`${e.sql.slice(0, 120)}\`:`);
    p();
    p(['```', e.plan, '```'].join('\n'));
  }
  p();
  p(`c) Beats per second into one PostgreSQL, ${r.ingest.seconds} s per row, ${fmtInt(r.ingest.services)} services: the store's recordBeats (one transaction per call), and the floor, node-postgres alone writing the same batch as one multi-row INSERT into beats and one upsert of services:`);
  p();
  p(
    table(
      ['writer', 'writers', 'beats per transaction', 'beats/s', 'commits/s', 'transaction p50 ms', 'p99 ms', 'beats stored / sent'],
      r.ingest.rows.map((x) => [x.mode === 'bare' ? 'bare SQL (2 set-based statements)' : 'Medic store, recordBeats', x.writers, x.batch, fmtInt(Math.round(x.beatsPerSecond)), fmtInt(Math.round(x.commitsPerSecond)), ms(x.p50), ms(x.p99), `${fmtInt(x.stored)} / ${fmtInt(x.beats)}`]),
    ),
  );
  p();
  p(`d) \`medic beat\` start-up (hyperfine -N, 3 warm-up + ${r.startup.runs} runs of each command side by side; ms):`);
  p();
  const node = r.startup.rows.find((x) => x.name === "node -e ''").median;
  p(table(['command', 'median', 'min … max', 'CPU user+sys', 'above `node -e \'\'`'], r.startup.rows.map((x) => [x.name, ms(x.median), `${ms(x.min)} … ${ms(x.max)}`, ms(x.cpu), ms(x.median - node)])));
  p();
  p(`PostgreSQL beats recorded by the timed runs: ${r.startup.pgBeatsRecorded} of ${r.startup.pgBeatsExpected}.`);
  return out.join('\n');
}

// c) alone: `node bench/pg.mjs --ingest [--quick]` prints its table (for working on recordBeats).
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--ingest')) {
  const quick = process.argv.includes('--quick');
  const dir = mkdtempSync(join(tmpdir(), 'medic-bench-ingest-'));
  const cluster = await startCluster();
  const run = (cmd, argv, { env } = {}) =>
    new Promise((resolve, reject) => {
      const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c) => (stderr += c));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    });
  try {
    const ingest = await ingestBench({
      cluster,
      createDb: (name) => cluster.query('postgres', `CREATE DATABASE ${name}`),
      bin: fileURLToPath(new URL('../bin/medic', import.meta.url)),
      node: process.execPath,
      env: process.env,
      run,
      say: (line) => process.stderr.write(`${line}\n`),
      seconds: quick ? 3 : 5,
      runs: [['store', [1, 8], [1, 10, 100]], ['bare', [1, 8], [1, 100]]],
      services: 10_000,
      dir,
    });
    process.stdout.write(
      `${table(
        ['writer', 'writers', 'beats per transaction', 'beats/s', 'commits/s', 'transaction p50 ms', 'p99 ms', 'beats stored / sent'],
        ingest.rows.map((x) => [x.mode === 'bare' ? 'bare SQL (2 set-based statements)' : 'Medic store, recordBeats', x.writers, x.batch, fmtInt(Math.round(x.beatsPerSecond)), fmtInt(Math.round(x.commitsPerSecond)), ms(x.p50), ms(x.p99), `${fmtInt(x.stored)} / ${fmtInt(x.beats)}`]),
      )}\nLoad average after: ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`,
    );
  } finally {
    cluster.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
