// `medic serve` throughput and latency (issue 10) on loopback, with autocannon, side by side in one
// run with the floor: a bare node:http server in its own process that answers 200 OK, `medic serve`
// on SQLite, and `medic serve` on PostgreSQL (a throwaway cluster, bench/pg-cluster.mjs, on a free
// loopback port; left out, as a problem, when PostgreSQL's server binaries are missing). The servers
// run with NODE_EXTRA_CA_CERTS (and NODE_OPTIONS, proxy variables, MEDIC_CONFIG, MEDIC_DB) unset.
// Targets: medic serve ≥ 0.5× the floor's requests/s; p99 ≤ 25 ms at a fixed 1,000 requests/s.
//
//   node bench/serve.mjs [--quick]   (standalone; bench/run.mjs calls serveBench as part 7)
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from './fixtures.mjs';
import { startCluster } from './pg-cluster.mjs';
import { measuredEnv } from './run-overhead.mjs';

const PING_KEY = 'bench-ping-key-0123456789';
const SERVICES = 100;
const slug = (i) => `svc-${String(i).padStart(3, '0')}`;
const BARE = `require('node:http').createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }); res.end('OK'); }); })
  .listen(0, '127.0.0.1', function () { console.log('listening on http://127.0.0.1:' + this.address().port); });`;

/** Starts a server process; resolves with its URL (from its first "listening on" line) and a stop(). */
function startServer(argv, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const exited = new Promise((r) => child.once('close', (code, signal) => r({ code, signal, stdout: out, stderr: err })));
    child.stderr.on('data', (c) => (err += c));
    child.stdout.on('data', (c) => {
      out += c;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ url: m[1], stop: () => (child.kill('SIGTERM'), exited), kill: () => child.kill('SIGKILL') });
    });
    void exited.then((x) => reject(new Error(`server exited ${x.code ?? x.signal} before listening: ${err}`)));
  });
}

function cannon(url, pathPrefix, opts) {
  return autocannon({
    url,
    connections: opts.connections,
    duration: opts.duration,
    ...(opts.rate && { overallRate: opts.rate }),
    // Each connection cycles through 10 services, as many hosts beating would.
    requests: Array.from({ length: 10 }, (_, i) => ({ method: 'GET', path: `${pathPrefix}/${slug(i * 7)}` })),
  });
}

const summary = (r) => ({
  rps: r.requests.average,
  p50: r.latency.p50,
  p99: r.latency.p99,
  max: r.latency.max,
  ok: r['2xx'],
  non2xx: r.non2xx,
  errors: r.errors + r.timeouts,
  sent: r.requests.sent,
});
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The servers measured, in the order each round runs them, and their names in the tables. */
const WHO = { bare: 'bare node:http (floor)', medic: '`medic serve` (SQLite)', pg: '`medic serve` (PostgreSQL)' };

/**
 * Runs autocannon against a bare node:http server and `medic serve` (100 services) on SQLite and on
 * PostgreSQL, rounds alternating so that load on this shared machine lands on all: first as fast as
 * they go (50 connections), then at a fixed 1,000 requests/s (20 connections). Every 2xx of a medic
 * serve must be a beat in its database afterwards, and each must stop with exit 0 on SIGTERM.
 */
export async function serveBench({ work, bin, env = measuredEnv(), quick = false }) {
  const duration = quick ? 3 : 10;
  const rounds = quick ? 1 : 2;
  const dir = join(work, 'serve');
  rmSync(dir, { recursive: true, force: true });
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dir, { recursive: true });
  const db = join(dir, 'medic.db');
  const problems = [];
  let cluster = null;
  try {
    cluster = await startCluster();
    await cluster.query('postgres', 'CREATE DATABASE serve');
  } catch (err) {
    cluster?.destroy();
    cluster = null;
    problems.push(`serve: medic serve on PostgreSQL not measured: ${err.message.split('\n')[0]}`);
  }
  const databases = { medic: db, ...(cluster && { pg: cluster.urlOf('serve') }) };
  const who = ['bare', ...Object.keys(databases)];
  const servers = {};
  const prefix = `/ping/${PING_KEY}`;
  const result = { duration, rounds, services: SERVICES, who, max: {}, fixed: {} };
  for (const w of who) [result.max[w], result.fixed[w]] = [[], []];
  try {
    servers.bare = await startServer(['-e', BARE], env);
    for (const [w, database] of Object.entries(databases)) {
      const config = join(dir, `medic-${w}.config.json`);
      writeFileSync(config, `${JSON.stringify({ database, services: Array.from({ length: SERVICES }, (_, i) => ({ slug: slug(i), interval: '1h' })), serve: { listen: '127.0.0.1:0', maxConnections: 1000 } })}\n`);
      servers[w] = await startServer([bin, 'serve', '--config', config], { ...env, MEDIC_PING_KEY: PING_KEY });
    }
    // Warm-up: JIT, the database's pages, the sockets.
    for (const w of who) await cannon(servers[w].url, prefix, { connections: 10, duration: 1 });
    for (let round = 1; round <= rounds; round++) {
      process.stderr.write(`7. serve, round ${round}/${rounds}: autocannon ${duration}s at full speed (50 connections), then at 1,000 requests/s (20 connections), ${who.join(', ')} alternating\n`);
      for (const w of who) result.max[w].push(summary(await cannon(servers[w].url, prefix, { connections: 50, duration })));
      for (const w of who) result.fixed[w].push(summary(await cannon(servers[w].url, prefix, { connections: 20, duration, rate: 1000 })));
    }
  } finally {
    servers.bare?.kill();
    for (const w of Object.keys(databases)) {
      if (!servers[w]) continue;
      const exit = await servers[w].stop();
      if (exit.code !== 0) problems.push(`medic serve (${w === 'pg' ? 'PostgreSQL' : 'SQLite'}) exited ${exit.code ?? exit.signal} on SIGTERM: ${exit.stderr.trim()}`);
    }
  }
  try {
    const counts = {
      medic: inspect(db, (d) => d.prepare('SELECT count(*) AS n FROM beats').get().n),
      ...(cluster && { pg: Number((await cluster.query('serve', 'SELECT count(*) AS n FROM beats'))[0].n) }),
    };
    result.acked = {};
    result.stored = {};
    result.maxRps = { bare: mean(result.max.bare.map((r) => r.rps)) };
    result.ratio = {};
    result.p99 = { bare: Math.max(...result.fixed.bare.map((r) => r.p99)) };
    for (const w of Object.keys(databases)) {
      const runs = [...result.max[w], ...result.fixed[w]];
      result.acked[w] = runs.reduce((n, r) => n + r.ok, 0);
      result.stored[w] = counts[w];
      // The warm-up's beats are stored too: at least every acknowledged one of the measured runs.
      if (counts[w] < result.acked[w]) problems.push(`serve (${w}): ${result.acked[w]} beats answered 200 but only ${counts[w]} stored`);
      for (const r of runs) if (r.non2xx || r.errors) problems.push(`serve (${w}): ${r.non2xx} non-2xx answers and ${r.errors} errors in a run`);
      result.maxRps[w] = mean(result.max[w].map((r) => r.rps));
      result.ratio[w] = result.maxRps[w] / result.maxRps.bare;
      result.p99[w] = Math.max(...result.fixed[w].map((r) => r.p99));
    }
  } finally {
    cluster?.destroy();
  }
  result.problems = problems;
  return result;
}

const fmt = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const int = (n) => Math.round(n).toLocaleString('en-US');

/** The Markdown table for BENCHMARKS.md. */
export function serveTable(r) {
  const rows = (kind) => r.who.flatMap((who) => r[kind][who].map((x, i) => `| ${WHO[who]} | ${i + 1} | ${int(x.rps)} | ${fmt(x.p50)} | ${fmt(x.p99)} | ${fmt(x.max)} | ${int(x.ok)} | ${x.non2xx + x.errors} |`));
  const medics = r.who.filter((w) => w !== 'bare');
  const head = ['| server | round | requests/s | p50 ms | p99 ms | max ms | 2xx | other |', '|---|---|---|---|---|---|---|---|'];
  return [
    `autocannon on 127.0.0.1, ${r.duration} s per run, ${r.rounds} round(s), servers in their own processes; medic serve with ${r.services} services (SQLite: a file; PostgreSQL: a throwaway cluster on loopback, durable defaults), GET /ping/<key>/<slug> over 10 slugs per connection.`,
    '',
    'a) As fast as they go (50 connections):',
    '',
    ...head,
    ...rows('max'),
    '',
    ...medics.flatMap((w) => [`${WHO[w]} / floor: ${r.ratio[w].toFixed(2)}× the requests/s (${int(r.maxRps[w])} vs ${int(r.maxRps.bare)}; target ≥ 0.5×: ${r.ratio[w] >= 0.5 ? 'met' : '**missed**'}).`, '']),
    'b) At a fixed 1,000 requests/s (20 connections; latency corrected for coordinated omission):',
    '',
    ...head,
    ...rows('fixed'),
    '',
    ...medics.flatMap((w, i) => [
      ...(i > 0 ? [''] : []),
      `p99 of ${WHO[w]} at 1,000 requests/s: ${fmt(r.p99[w])} ms (worst round; floor ${fmt(r.p99.bare)} ms; target ≤ 25 ms: ${r.p99[w] <= 25 ? 'met' : '**missed**'}). ` +
        `Beats answered 200: ${int(r.acked[w])}; stored: ${int(r.stored[w])} (the warm-up's included).`,
    ]),
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const work = mkdtempSync(join(tmpdir(), 'medic-bench-serve-'));
  try {
    const bin = fileURLToPath(new URL('../bin/medic', import.meta.url));
    const r = await serveBench({ work, bin, quick: process.argv.includes('--quick') });
    process.stdout.write(`${serveTable(r)}\n`);
    for (const p of r.problems) process.stderr.write(`problem: ${p}\n`);
    process.exitCode = r.problems.length > 0 ? 1 : 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
