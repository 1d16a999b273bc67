/**
 * `medic migrate --to <postgres-url>` end to end: the real binary, a real temp SQLite database
 * lived in under faketime (beats with signals, an open incident with one trigger delivered and one
 * pending, a refused event, a pause, log lines, a run paired by its run id, a checker gap), a fresh
 * database on the run's throwaway PostgreSQL, and PagerDuty stand-ins on loopback. After the copy,
 * a config pointing at PostgreSQL sees the same status and history, and its checks (in real time:
 * PostgreSQL's clock is the clock) deliver the pending trigger and resolve the incident once.
 */
import Database from 'better-sqlite3';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { spawn } from 'node:child_process';
import { BIN, ROUTING_KEY, tempProject, type CliResult } from '../helpers/cli.js';
import { sha256 } from '../helpers/db.js';
import { startPdServer, serverError, type PdServer } from '../helpers/pd-server.js';
import { freshDatabase } from '../helpers/pg.js';
import { iso, MIN, SEC, startRig } from '../helpers/trust.js';

async function pgQuery<T extends pg.QueryResultRow = any>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

const mine = (pd: PdServer, action: string, slug = 'backup') => pd.accepted.filter((r) => r.body?.event_action === action && r.body?.dedup_key === `medic-heartbeat-${slug}`);

describe('medic migrate', { timeout: 300_000 }, () => {
  it('copies a lived-in SQLite database; on PostgreSQL the same status and history, the pending trigger delivered, the incident resolved once', async () => {
    // The SQLite part ends a minute ago, so that PostgreSQL's real clock carries on from there.
    const T = Math.floor(Date.now() / 1000) * 1000 - 21 * MIN;
    const pd2 = await startPdServer();
    onTestFinished(() => pd2.close());
    const rig = await startRig([], {});
    onTestFinished(rig.close);
    const { pd, project } = rig;
    const config = {
      targets: {
        oncall: { type: 'pagerduty', eventsUrl: pd.url },
        backup2: { type: 'pagerduty', eventsUrl: pd2.url },
        strict: { type: 'pagerduty', eventsUrl: `${pd.url}?strict=1` },
      },
      defaults: { interval: '5m', grace: '1m', threshold: 1, targets: ['oncall'] },
      checker: { gapThreshold: '10m', deliveryBudget: '2s' },
      flap: { maxTriggers: 1000 },
      services: [{ slug: 'backup', targets: ['oncall', 'backup2'] }, { slug: 'etl', targets: ['strict'] }, { slug: 'quiet' }, { slug: 'paused' }],
    };
    project.writeConfig(config);
    pd.reply((req) => (req.path.includes('strict') ? { status: 403, body: 'Forbidden', contentType: 'text/plain' } : 202));
    pd2.reply(() => serverError());

    await rig.ok(T, ['check']);
    await rig.ok(T, ['beat', 'backup', '--start']);
    await rig.ok(T + MIN, ['beat', 'backup', '-m', 'nightly ok']);
    await rig.ok(T + 2 * MIN, ['beat', 'etl', '--fail', '-m', 'exit 3: disk full']);
    await rig.ok(T + 2 * MIN, ['beat', 'paused']);
    await rig.ok(T + 3 * MIN, ['pause', 'paused', '--reason', 'storage migration']);
    // What only `medic serve` writes: /log lines, and a start and its end paired by a run id.
    const dbPath = join(project.dir, 'medic.db');
    const store = openSqliteStore(dbPath);
    await store.recordBeats([
      { slug: 'backup', at: T + 90 * SEC, kind: 'log', details: { message: 'rotated 3 files' } },
      { slug: 'quiet', at: T + 2 * MIN, kind: 'start', runId: '6f1c2b9e-3d4a-4b5c-8d7e-9f0a1b2c3d4e' },
      { slug: 'quiet', at: T + 2 * MIN + 20 * SEC, kind: 'ok', runId: '6f1c2b9e-3d4a-4b5c-8d7e-9f0a1b2c3d4e' },
    ]);
    await store.close();
    // backup down (trigger: oncall 202, backup2 500 → pending); etl failed (trigger refused, 403).
    expect((await rig.medic(T + 8 * MIN, ['check'])).code).toBe(76);
    // Twelve minutes without a check: a gap; quiet's deadline fell inside it.
    expect((await rig.medic(T + 20 * MIN, ['check'])).code).toBe(76);
    expect(mine(pd, 'trigger')).toHaveLength(1);
    expect(mine(pd2, 'trigger')).toHaveLength(0);
    expect(pd.requests.filter((r) => r.path.includes('strict'))).toHaveLength(1);

    // From here on real time: PostgreSQL's now() is the clock of every command on it.
    const env = { PAGERDUTY_ROUTING_KEY: ROUTING_KEY, NO_COLOR: '1' };
    const run = (args: string[]): Promise<CliResult> => project.run(args, { env });
    const look = async () => {
      const status = await run(['status', '--json']);
      expect(status.code, status.stderr).toBe(0);
      // The timeline itself; its range (since, until, the strip's buckets) moves with the clock.
      const timeline = async (slug: string) => {
        const r = await run(['history', slug, '--since', '1h', '--json']);
        expect(r.code, r.stderr).toBe(0);
        const { since: _since, until: _until, strip: _strip, ...rest } = JSON.parse(r.stdout);
        return rest;
      };
      return { status: JSON.parse(status.stdout), backup: await timeline('backup'), quiet: await timeline('quiet'), etl: await timeline('etl') };
    };
    const before = await look();
    expect(before.status.map((r: any) => [r.slug, r.state, r.delivery])).toEqual([
      ['backup', 'down', 'queued'],
      ['etl', 'failed', 'refused'],
      ['quiet', 'up', null],
      ['paused', 'paused', null],
    ]);
    expect(JSON.stringify(before.quiet)).toContain('"durationMs":20000'); // the run id paired start and end
    expect(before.quiet.events).toContainEqual(expect.objectContaining({ kind: 'state', to: 'unknown', at: iso(T + 20 * MIN) })); // the gap

    const url = await freshDatabase();
    const m = await run(['migrate', '--to', url]);
    expect(m.code, m.stderr).toBe(0);
    expect(m.stderr).toBe(''); // a small database: quiet
    expect(m.stdout).toContain(`"database": ${JSON.stringify(url)}`);
    expect(m.stdout).toMatch(/4 services, 6 beats, 1 log line, \d+ state changes, 3 events, \d+ delivery attempts \(counts and ids verified\)/);
    expect(m.stdout).toMatch(/PGPASSWORD, ~\/\.pgpass or "passwordFile"/);
    // The lock migrate held on SQLite is not copied, nor does it count as a check run.
    expect(await pgQuery(url, 'SELECT owner, lease_until, last_run_at FROM checker')).toEqual([{ owner: null, lease_until: null, last_run_at: String(T + 20 * MIN) }]);

    // History does not show /log lines (yet): they are looked at where they are.
    expect(await pgQuery(url, "SELECT slug, at, convert_from(message, 'UTF8') AS message FROM logs")).toEqual([
      { slug: 'backup', at: String(T + 90 * SEC), message: 'rotated 3 files' },
    ]);
    project.writeConfig({ ...config, database: url });
    expect(await look()).toEqual(before);

    pd2.reply(() => 202);
    const first = await run(['check']);
    expect(first.code, first.stderr).toBe(76); // etl's refusal stands: the target did not change
    expect(mine(pd2, 'trigger')).toHaveLength(1);
    expect(mine(pd2, 'trigger')[0]!.body.payload.timestamp).toBe(iso(T + 7 * MIN));
    expect(pd.requests.filter((r) => r.path.includes('strict'))).toHaveLength(1);
    expect((await run(['beat', 'backup'])).code).toBe(0);
    expect((await run(['check'])).code).toBe(76);
    expect((await run(['check'])).code).toBe(76);
    for (const server of [pd, pd2]) {
      expect(mine(server, 'trigger')).toHaveLength(1);
      expect(mine(server, 'resolve')).toHaveLength(1);
    }
    const status = JSON.parse((await run(['status', '--json'])).stdout);
    expect(status.find((r: any) => r.slug === 'backup')).toMatchObject({ state: 'up', incidentOpen: false, pendingEvents: 0 });
  });

  it('a target that is not empty is refused (65), naming what it holds, and left as it was', async () => {
    const project = tempProject({ services: [{ slug: 'backup' }] });
    onTestFinished(() => project.remove());
    expect((await project.run(['beat', 'backup'])).code).toBe(0);

    const other = await freshDatabase();
    await pgQuery(other, 'CREATE TABLE invoices (id int)');
    const r1 = await project.run(['migrate', '--to', other]);
    expect(r1.code).toBe(65);
    expect(r1.stderr).toMatch(/refusing to migrate into PostgreSQL database "[^"]+" at medic@127\.0\.0\.1:\d+: it is not empty \(table invoices\)/);
    expect(await pgQuery(other, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")).toEqual([{ table_name: 'invoices' }]);

    const done = await freshDatabase();
    const first = await project.run(['migrate', '--to', done, '--json', '-v']);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({
      to: done,
      tables: { services: { rows: 1 }, beats: { rows: 1, minId: 1, maxId: 1 }, logs: { rows: 0, minId: null, maxId: null }, checker: { rows: 1 } },
      beatsAfterSnapshot: 0,
    });
    // -v: a line per table (without it, only databases of 100,000 rows and more say so).
    expect(first.stderr.trim().split('\n')).toEqual([
      'medic: services: 1 row copied',
      'medic: beats: 1 row copied',
      'medic: logs: 0 rows copied',
      'medic: transitions: 0 rows copied',
      'medic: outbox: 0 rows copied',
      'medic: deliveries: 0 rows copied',
      'medic: checker: 1 row copied',
    ]);
    expect((await project.run(['beat', 'backup'])).code).toBe(0);
    const r2 = await project.run(['migrate', '--to', done]);
    expect(r2.code).toBe(65);
    expect(r2.stderr).toMatch(/it already holds a Medic database \(services: 1 row, beats: 1 row\)/);
    expect(await pgQuery(done, 'SELECT count(*)::int AS n FROM beats')).toEqual([{ n: 1 }]);
  });

  it('a password in --to is refused (64) and never echoed; nothing is written', async () => {
    const project = tempProject({ services: [{ slug: 'backup' }] });
    onTestFinished(() => project.remove());
    for (const to of ['postgres://medic:hunter2-secret@127.0.0.1:5432/medic', 'postgresql://medic@127.0.0.1/medic?password=hunter2-secret']) {
      const r = await project.run(['migrate', '--to', to]);
      expect(r.code).toBe(64);
      expect(r.stderr).toMatch(/--to: a password in the database URL .*is refused/);
      expect(r.stderr + r.stdout).not.toContain('hunter2');
    }
    expect(existsSync(join(project.dir, 'medic.db'))).toBe(false);
  });

  it('PostgreSQL unreachable: 74, naming the database and what to check, within the connect timeout', async () => {
    const project = tempProject({ services: [{ slug: 'backup' }] });
    onTestFinished(() => project.remove());
    expect((await project.run(['beat', 'backup'])).code).toBe(0);
    const sum = sha256(join(project.dir, 'medic.db'));
    const started = Date.now();
    // Port 1 on loopback: nothing listens there.
    const r = await project.run(['migrate', '--to', 'postgres://medic@127.0.0.1:1/medic']);
    expect(r.code).toBe(74);
    expect(r.stderr).toMatch(/cannot connect to PostgreSQL database "medic" at medic@127\.0\.0\.1:1: .*ECONNREFUSED/);
    expect(r.stderr).toMatch(/the --to URL/);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(sha256(join(project.dir, 'medic.db'))).toBe(sum);
  });

  it('nothing to copy: no SQLite database yet (74), or a config already on PostgreSQL (64)', async () => {
    const project = tempProject({ services: [{ slug: 'backup' }] });
    onTestFinished(() => project.remove());
    const url = await freshDatabase();
    const none = await project.run(['migrate', '--to', url]);
    expect(none.code).toBe(74);
    expect(none.stderr).toMatch(/there is no SQLite database at .*medic\.db: nothing to migrate/);
    expect(existsSync(join(project.dir, 'medic.db'))).toBe(false);

    project.writeConfig({ database: url, services: [{ slug: 'backup' }] });
    const already = await project.run(['migrate', '--to', url]);
    expect(already.code).toBe(64);
    expect(already.stderr).toMatch(/the config's database is already PostgreSQL \(PostgreSQL database "[^"]+" at medic@127\.0\.0\.1:\d+\)/);
  });

  it('a SQLite database of schema 4 is upgraded first and copied; a newer one is refused untouched (74)', async () => {
    const project = tempProject({ services: [{ slug: 'backup' }] });
    onTestFinished(() => project.remove());
    const dbPath = join(project.dir, 'medic.db');
    writeFileSync(dbPath, '', { mode: 0o600 });
    const db = new Database(dbPath);
    for (const m of MIGRATIONS.filter((m) => m.version <= 4)) db.exec(m.up);
    db.pragma('user_version = 4');
    db.prepare("INSERT INTO services (slug, registered_at, last_beat_at, beat_seq) VALUES ('backup', 1000, 2000, 1)").run();
    db.prepare("INSERT INTO beats (slug, at, kind) VALUES ('backup', 2000, 'ok')").run();
    db.close();
    const url = await freshDatabase();
    const r = await project.run(['migrate', '--to', url]);
    expect(r.code, r.stderr).toBe(0);
    expect(await pgQuery(url, 'SELECT slug, at::int, run_id FROM beats')).toEqual([{ slug: 'backup', at: 2000, run_id: null }]);

    const newer = new Database(dbPath);
    newer.pragma('user_version = 99');
    newer.close();
    const before = sha256(dbPath);
    const target = await freshDatabase();
    const r2 = await project.run(['migrate', '--to', target]);
    expect(r2.code).toBe(74);
    expect(r2.stderr).toMatch(/schema version 99, written by a newer Medic/);
    expect(sha256(dbPath)).toBe(before);
    expect(await pgQuery(target, "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'")).toEqual([{ n: 0 }]);
  });

  it('a copy that fails half-way keeps nothing in PostgreSQL (74); once the cause is gone, the same target takes the copy', async () => {
    const project = tempProject({ services: [{ slug: 'backup' }] });
    onTestFinished(() => project.remove());
    for (let i = 0; i < 3; i++) expect((await project.run(['beat', 'backup'])).code).toBe(0);
    const dbPath = join(project.dir, 'medic.db');
    // An exit code PostgreSQL's INTEGER cannot hold, in the outbox (copied after services and beats).
    const db = new Database(dbPath);
    db.prepare(
      "INSERT INTO outbox (slug, incident_id, target, action, dedup_key, created_at, next_attempt_at, status, exit_code) VALUES ('backup', 1, 'pagerduty', 'trigger', 'medic-heartbeat-backup', 1, 1, 'skipped', ?)",
    ).run(2 ** 40);
    db.close();
    const url = await freshDatabase();
    const r = await project.run(['migrate', '--to', url]);
    expect(r.code).toBe(74);
    expect(r.stderr).toMatch(/out of range for type integer.*; nothing was kept in PostgreSQL \(the copy is one transaction\)\n.*run medic migrate again/);
    for (const table of ['services', 'beats', 'outbox']) expect(await pgQuery(url, `SELECT count(*)::int AS n FROM ${table}`), table).toEqual([{ n: 0 }]);

    const fix = new Database(dbPath);
    fix.prepare('UPDATE outbox SET exit_code = 1').run();
    fix.close();
    const again = await project.run(['migrate', '--to', url]);
    expect(again.code, again.stderr).toBe(0);
    expect(await pgQuery(url, 'SELECT count(*)::int AS n FROM beats')).toEqual([{ n: 3 }]);
    // The sequences go on after the copied ids.
    await pgQuery(url, "INSERT INTO beats (slug, at) VALUES ('backup', 1)");
    expect(await pgQuery(url, 'SELECT max(id)::int AS n FROM beats')).toEqual([{ n: 4 }]);
  });

  it('a big database: progress on stderr; beats and checks during the copy neither wait nor fail, and the beats after its snapshot are counted', async () => {
    const project = tempProject({ services: [{ slug: 'backup' }, { slug: 'etl' }], checker: { gapThreshold: '30d' } });
    onTestFinished(() => project.remove());
    expect((await project.run(['check'])).code).toBe(0);
    const dbPath = join(project.dir, 'medic.db');
    const db = new Database(dbPath);
    const insert = db.prepare("INSERT INTO beats (slug, at) VALUES ('etl', ?)");
    const t = Date.now() - 86_400_000;
    db.transaction(() => {
      for (let i = 0; i < 300_000; i++) insert.run(t + i * 100);
    })();
    db.close();
    const url = await freshDatabase();
    const child = spawn(process.execPath, [BIN, 'migrate', '--to', url], {
      cwd: project.dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', HOME: project.home, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const copying = new Promise<void>((resolve) =>
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        if (stderr.includes('services:')) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await copying;
    // While the beats are being copied: a check leaves the minute to the lock's holder, beats go on.
    const check = await project.run(['check', '-v']);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/another medic check \(\d+@[^)]+\) is running; leaving this minute to it/);
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      expect((await project.run(['beat', 'backup'])).code).toBe(0);
      expect(Date.now() - started).toBeLessThan(5_000);
    }
    expect(await exited, stderr).toBe(0);
    // Without -v, a database this big says what it copied, a line per table.
    expect(stderr).toMatch(/^medic: services: 2 rows copied\nmedic: beats: 300\d{3} rows copied\n/);
    const inPostgres = (await pgQuery(url, 'SELECT count(*)::int AS n FROM beats'))[0].n;
    const inSqlite = (new Database(dbPath, { readonly: true }).prepare('SELECT count(*) AS n FROM beats').get() as { n: number }).n;
    expect(inSqlite).toBe(300_003);
    const after = inSqlite - inPostgres;
    expect(after).toBeGreaterThan(0);
    expect(stdout).toContain(`${after} ${after === 1 ? 'beat' : 'beats'} arrived in SQLite during the copy`);
  });
});
