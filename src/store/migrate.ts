/**
 * `medic migrate`: copies a SQLite database into an empty PostgreSQL database, all or nothing.
 *
 * Consistency: the copy reads one snapshot (one read transaction on a connection of its own), so
 * beats go on being recorded while it runs (jobs never wait for it, never fail with "database is
 * locked") and every table is copied as it was at one instant, which is what lets the counts be
 * verified exactly. It also holds the checker lock for its whole duration (renewed as it goes):
 * a `medic check` meanwhile would page from SQLite, and the event it settled there would still be
 * pending in the copy and be sent again from PostgreSQL. Beats that arrive after the snapshot are
 * counted and reported; the services they belong to catch up with their next beat.
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import pg from 'pg';
import { DatabaseError, DataError, MedicError, EXIT } from '../errors.js';
import { connectionOptions, openPostgresStore, postgresError } from './postgres.js';
import { VERSION_TABLE } from './postgres-migrations.js';
import { describeUrl } from './postgres-url.js';
import { openSqliteStore, type SqliteStore } from './sqlite.js';

/** Every table of schema 5, in the order they are copied, with the key they are read in order of. */
export const TABLES = [
  { name: 'services', key: 'slug' },
  { name: 'beats', key: 'id' },
  { name: 'logs', key: 'id' },
  { name: 'transitions', key: 'id' },
  { name: 'outbox', key: 'id' },
  { name: 'deliveries', key: 'id' },
  { name: 'checker', key: 'id' },
] as const;

/** What the copy is verified by, per table: rows, and for tables with an id its lowest and highest. */
export interface Tally {
  table: string;
  rows: number;
  minId: number | null;
  maxId: number | null;
}

export interface MigrateOptions {
  /** Who runs it (the checker lock's owner): `pid@host`, like a check. */
  owner: string;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Opening the SQLite file: who medic runs as, and its configured mode (see openSqliteStore). */
  uid?: number;
  gid?: number;
  mode?: number;
  /** The PostgreSQL password (from a password file), else PGPASSWORD / ~/.pgpass as libpq reads them. */
  password?: string;
  /** A line of progress (stderr): called once per table copied, when the database is big or `verbose`. */
  progress?: (line: string) => void;
  /** Progress for every database, not only big ones. */
  verbose?: boolean;
  /** Told once when a running check holds the lock and the copy waits for it. */
  notice?: (line: string) => void;
}

export interface MigrateReport {
  tallies: Tally[];
  /** Beats recorded in SQLite after the snapshot was taken (not in PostgreSQL). */
  beatsAfter: number;
  ms: number;
}

/** Above this many rows in all, progress is printed per table. */
export const PROGRESS_ROWS = 100_000;
/** Rows per INSERT (and per read from SQLite). */
const BATCH_ROWS = 10_000;
/** The migration's hold on the checker lock, renewed every RENEW_MS while it copies. */
const LEASE_MS = 120_000;
const RENEW_MS = 20_000;
/** How long a running check may keep the copy waiting for the lock. */
const LOCK_WAIT_MS = 180_000;
const CONNECT_TIMEOUT_MS = 10_000;
/** A statement of the copy (a batch, a count) that takes longer means the server is not answering. */
const QUERY_TIMEOUT_MS = 300_000;

/**
 * Differences between what was read from SQLite and what PostgreSQL holds after the copy, one line
 * per table that differs (empty: verified).
 */
export function tallyMismatches(source: readonly Tally[], target: readonly Tally[]): string[] {
  const problems: string[] = [];
  const byTable = new Map(target.map((t) => [t.table, t]));
  for (const s of source) {
    const t = byTable.get(s.table);
    if (!t) {
      problems.push(`${s.table}: missing in PostgreSQL`);
      continue;
    }
    const diffs: string[] = [];
    if (s.rows !== t.rows) diffs.push(`${s.rows} rows in SQLite, ${t.rows} in PostgreSQL`);
    if (s.minId !== t.minId || s.maxId !== t.maxId) diffs.push(`ids ${range(s)} in SQLite, ${range(t)} in PostgreSQL`);
    if (diffs.length > 0) problems.push(`${s.table}: ${diffs.join('; ')}`);
  }
  for (const t of target) if (!source.some((s) => s.table === t.table)) problems.push(`${t.table}: not in SQLite`);
  return problems;
}

const range = (t: Tally) => (t.minId === null ? 'none' : `${t.minId}–${t.maxId}`);

/**
 * Copies the SQLite database at `sqlitePath` into the empty PostgreSQL database at `url`: the
 * target's schema comes from the PostgreSQL store's own migrations, the rows in one transaction
 * (all or nothing), in batches, ids kept, sequences set past the highest id, counts verified
 * before it commits.
 */
export async function migrateToPostgres(sqlitePath: string, url: string, opts: MigrateOptions): Promise<MigrateReport> {
  const started = opts.now();
  if (!existsSync(sqlitePath)) {
    throw new DatabaseError(`there is no SQLite database at ${sqlitePath}: nothing to migrate`, 'point "database" (or MEDIC_DB, or --config) at the database to copy');
  }
  // The target first: a database that cannot take the copy leaves the SQLite file untouched.
  const client = await connect(url, opts.password, opts.uid);
  let store: SqliteStore | null = null;
  let locked = false;
  try {
    await refuseNonEmpty(client, url, false);
    // As a writer: a database older than schema 5 is upgraded first, a newer one refused, untouched.
    store = openSqliteStore(sqlitePath, { uid: opts.uid, gid: opts.gid, mode: opts.mode });
    await takeLock(store, opts);
    locked = true;
    // Medic's schema, from the PostgreSQL store's own migrations: it is opened as a writer once.
    await (await openPostgresStore(url, { uid: opts.uid, ...(opts.password !== undefined && { password: opts.password }) })).close();
    return await copy(store, client, url, opts, started);
  } finally {
    if (store && locked) {
      try {
        store.db.prepare('UPDATE checker SET owner = NULL, lease_until = NULL WHERE id = 1 AND owner = ?').run(opts.owner);
      } catch {
        // The lease runs out by itself.
      }
    }
    await client.end().catch(() => {});
    await store?.close();
  }
}

async function connect(url: string, password: string | undefined, uid: number | undefined): Promise<pg.Client> {
  const client = new pg.Client({ ...connectionOptions(url, password, uid), connectionTimeoutMillis: CONNECT_TIMEOUT_MS, query_timeout: QUERY_TIMEOUT_MS, application_name: 'medic migrate' });
  // An error on an idle client (the server went away) must not become an uncaught exception.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw pgError(url, err);
  }
  return client;
}

/** A PostgreSQL failure as the PostgreSQL store words it (exit 74), its advice pointed at --to rather than the config. */
function pgError(url: string, err: unknown): MedicError {
  if (err instanceof MedicError) return err;
  const e = postgresError(url, err);
  return new DatabaseError(e.message, e.hint?.replaceAll('"database" (or MEDIC_DB)', 'the --to URL').replaceAll('"database"', 'the --to URL'));
}

const MEDIC_TABLES = new Set<string>(TABLES.map((t) => t.name));

/**
 * Refuses a target that holds anything: a table that is not Medic's, or Medic's tables with rows.
 * Medic's own tables, empty (a migration that failed and rolled back leaves them), are accepted;
 * `locked`: inside the copy's transaction, with those tables locked.
 */
async function refuseNonEmpty(client: pg.Client, url: string, locked: boolean): Promise<void> {
  const { rows } = await client.query<{ schema: string; name: string; current: boolean }>(
    `SELECT table_schema AS schema, table_name AS name, table_schema = current_schema() AS current
     FROM information_schema.tables
     WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg\\_%'
     ORDER BY table_schema, table_name`,
  );
  const present = new Set(rows.filter((r) => r.current).map((r) => r.name));
  const medic = TABLES.filter((t) => present.has(t.name));
  const others = rows.filter((r) => !(r.current && (MEDIC_TABLES.has(r.name) || isSchemaBookkeeping(r.name))));
  if (others.length > 0) {
    const names = others.map((r) => (r.current ? r.name : `${r.schema}.${r.name}`));
    throw new DataError(
      `refusing to migrate into ${describeUrl(url)}: it is not empty (${names.length === 1 ? 'table' : 'tables'} ${names.slice(0, 10).join(', ')}${names.length > 10 ? ` and ${names.length - 10} more` : ''})`,
      'migrate copies into an empty database only: create one for Medic (createdb medic) and give its URL',
    );
  }
  const filled: string[] = [];
  for (const t of medic) {
    // The checker's one row, untouched, is part of an empty schema.
    const where = t.name === 'checker' ? ' WHERE owner IS NOT NULL OR last_run_at IS NOT NULL OR blind_from IS NOT NULL' : '';
    const n = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${t.name}${where}`)).rows[0]!.n);
    if (n > 0) filled.push(`${t.name}: ${n} ${n === 1 ? 'row' : 'rows'}`);
  }
  if (filled.length > 0) {
    throw new DataError(
      `refusing to migrate into ${describeUrl(url)}: it already holds a Medic database (${filled.join(', ')})${locked ? '; nothing was copied' : ''}`,
      'migrate never writes over data: give an empty database, or drop and recreate this one (dropdb, createdb) if its content is not needed',
    );
  }
}

/** The PostgreSQL store's own table besides the data (its schema version), which an empty Medic schema has. */
function isSchemaBookkeeping(name: string): boolean {
  return name === VERSION_TABLE;
}

/** Takes the checker lock of the SQLite database, waiting for a running check to finish. */
async function takeLock(store: SqliteStore, opts: MigrateOptions): Promise<void> {
  const until = opts.now() + LOCK_WAIT_MS;
  let told = false;
  for (;;) {
    const got = await store.acquireLock(opts.owner, opts.now(), LEASE_MS);
    if (got.acquired) return;
    if (opts.now() > until) {
      throw new MedicError(
        `a medic check (${got.holder ?? 'unknown'}) still holds the checker lock of ${store.path} after ${LOCK_WAIT_MS / 1000}s; nothing was copied`,
        EXIT.tempfail,
        'run medic migrate again in a minute; if no check is running, its lease runs out by itself',
      );
    }
    if (!told) opts.notice?.(`waiting for the running medic check (${got.holder ?? 'unknown'}) to finish`);
    told = true;
    await opts.sleep(1000);
  }
}

interface Column {
  name: string;
  /** PostgreSQL's type: `bytea` columns get the text's UTF-8 bytes (what a job said; TEXT cannot hold NUL). */
  type: string;
}

async function copy(store: SqliteStore, client: pg.Client, url: string, opts: MigrateOptions, started: number): Promise<MigrateReport> {
  // A reader of its own: one read transaction is one snapshot of every table, while beats go on.
  const reader = new Database(store.path, { readonly: true, fileMustExist: true, timeout: 15_000 });
  let renewedAt = opts.now();
  const renew = async () => {
    if (opts.now() - renewedAt < RENEW_MS) return;
    renewedAt = opts.now();
    const got = await store.acquireLock(opts.owner, renewedAt, LEASE_MS, opts.owner);
    if (!got.acquired) {
      throw new MedicError(
        `a medic check (${got.holder ?? 'unknown'}) took the checker lock of ${store.path} during the copy; nothing was copied`,
        EXIT.tempfail,
        'run medic migrate again',
      );
    }
  };
  try {
    reader.exec('BEGIN');
    const tallies = TABLES.map((t) => tallyOf(reader, t.name, t.key));
    const total = tallies.reduce((a, t) => a + t.rows, 0);
    const say = opts.progress && (opts.verbose || total >= PROGRESS_ROWS) ? opts.progress : null;
    await client.query('BEGIN');
    try {
      await client.query(`LOCK TABLE ${TABLES.map((t) => t.name).join(', ')} IN ACCESS EXCLUSIVE MODE`);
      await refuseNonEmpty(client, url, true);
      await client.query('DELETE FROM checker');
      for (const [i, t] of TABLES.entries()) {
        const columns = await columnsOf(reader, client, t.name);
        await copyTable(reader, client, t.name, t.key, columns, renew);
        say?.(`${t.name}: ${tallies[i]!.rows} ${tallies[i]!.rows === 1 ? 'row' : 'rows'} copied`);
        if (t.key === 'id') await setSequence(client, t.name);
      }
      const copied: Tally[] = [];
      for (const t of TABLES) copied.push(await pgTally(client, t.name, t.key));
      const problems = tallyMismatches(tallies, copied);
      if (problems.length > 0) {
        throw new DatabaseError(
          `the copy into ${describeUrl(url)} does not match ${store.path}, so nothing was kept (rolled back):\n${problems.map((p) => `  ${p}`).join('\n')}`,
          'this is not expected: run medic migrate again, and report it if it happens again',
        );
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      if (err instanceof MedicError) throw err;
      const e = pgError(url, err);
      throw new DatabaseError(`${e.message}; nothing was kept in PostgreSQL (the copy is one transaction)`, e.hint?.replace(/the next run tries again/, 'run medic migrate again once the cause is fixed'));
    }
    const last = tallies.find((t) => t.table === 'beats')!.maxId ?? 0;
    reader.exec('COMMIT');
    const beatsAfter = (store.db.prepare('SELECT count(*) AS n FROM beats WHERE id > ?').get(last) as { n: number }).n;
    return { tallies, beatsAfter, ms: opts.now() - started };
  } finally {
    reader.close();
  }
}

function tallyOf(reader: Database.Database, table: string, key: string): Tally {
  const r = reader.prepare(key === 'id' ? `SELECT count(*) AS n, min(id) AS lo, max(id) AS hi FROM ${table}` : `SELECT count(*) AS n, NULL AS lo, NULL AS hi FROM ${table}`).get() as {
    n: number;
    lo: number | null;
    hi: number | null;
  };
  return { table, rows: r.n, minId: r.lo, maxId: r.hi };
}

async function pgTally(client: pg.Client, table: string, key: string): Promise<Tally> {
  const r = (
    await client.query<{ n: string; lo: string | null; hi: string | null }>(
      key === 'id' ? `SELECT count(*) AS n, min(id) AS lo, max(id) AS hi FROM ${table}` : `SELECT count(*) AS n, NULL AS lo, NULL AS hi FROM ${table}`,
    )
  ).rows[0]!;
  return { table, rows: Number(r.n), minId: r.lo === null ? null : Number(r.lo), maxId: r.hi === null ? null : Number(r.hi) };
}

/** The table's columns, which must be the same in both (the PostgreSQL store keeps SQLite's names). */
async function columnsOf(reader: Database.Database, client: pg.Client, table: string): Promise<Column[]> {
  const mine = (reader.prepare(`SELECT name FROM pragma_table_info('${table}') ORDER BY cid`).all() as Column[]).map((c) => c.name);
  const types = new Map(
    (
      await client.query<{ name: string; type: string }>(
        'SELECT column_name AS name, data_type AS type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1',
        [table],
      )
    ).rows.map((r) => [r.name, r.type]),
  );
  const theirs = [...types.keys()];
  const missing = mine.filter((c) => !theirs.includes(c));
  const extra = theirs.filter((c) => !mine.includes(c));
  if (missing.length > 0 || extra.length > 0) {
    // The two schemas are Medic's own, at the same version: a difference is a bug.
    throw new Error(
      `table ${table} differs between SQLite and PostgreSQL (${[missing.length > 0 && `only in SQLite: ${missing.join(', ')}`, extra.length > 0 && `only in PostgreSQL: ${extra.join(', ')}`].filter(Boolean).join('; ')})`,
    );
  }
  return mine.map((name) => ({ name, type: types.get(name)! }));
}

/** What is copied as it was, except a lock or a claim, which belonged to a process working on the old database. */
const CLEARED: Record<string, string[]> = { checker: ['owner', 'lease_until', 'locked_at'], outbox: ['claimed_by', 'claimed_until'] };

async function copyTable(reader: Database.Database, client: pg.Client, table: string, key: string, columns: Column[], renew: () => Promise<void>): Promise<void> {
  const names = columns.map((c) => c.name);
  const cleared = new Set(CLEARED[table] ?? []);
  const convert = columns.map((c) => (cleared.has(c.name) ? () => null : c.type === 'bytea' ? toBytes : c.type === 'text' ? toText : (v: unknown) => v));
  const read = reader.prepare(`SELECT ${names.join(', ')} FROM ${table} WHERE ${key} > ? ORDER BY ${key} LIMIT ${BATCH_ROWS}`).raw(true);
  // One array parameter per column, unnested: a batch is one short statement whatever its rows
  // (a multi-row VALUES list would need a parameter per value, and its planning costs as much).
  const insert = `INSERT INTO ${table} (${names.join(', ')}) SELECT * FROM unnest(${columns.map((c, i) => `$${i + 1}::${sqlType(c)}[]`).join(', ')})`;
  const keyAt = names.indexOf(key);
  let after: number | string = key === 'id' ? Number.MIN_SAFE_INTEGER : '';
  for (;;) {
    const rows = read.all(after) as unknown[][];
    if (rows.length === 0) return;
    const values = names.map((_, c) => rows.map((row) => convert[c]!(row[c])));
    await client.query(insert, values);
    after = rows[rows.length - 1]![keyAt] as number | string;
    await renew();
    if (rows.length < BATCH_ROWS) return;
  }
}

/** The column's type as a cast names it (information_schema's data_type: bigint, integer, text, bytea). */
function sqlType(c: Column): string {
  if (!/^[a-z ]+$/.test(c.type)) throw new Error(`column ${c.name} has a type medic migrate does not know: ${c.type}`);
  return c.type;
}

const toBytes = (v: unknown) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v);
/** PostgreSQL's TEXT cannot hold NUL (SQLite's can): one would fail the whole copy, so it becomes U+FFFD. */
const toText = (v: unknown) => (typeof v === 'string' && v.includes('\0') ? v.replaceAll('\0', '\uFFFD') : v);

/** The table's id sequence (when it has one) goes on after the highest id copied. */
async function setSequence(client: pg.Client, table: string): Promise<void> {
  const seq = (await client.query<{ seq: string | null }>('SELECT pg_get_serial_sequence($1, $2) AS seq', [table, 'id'])).rows[0]?.seq;
  if (!seq) return;
  await client.query(`SELECT setval($1, coalesce((SELECT max(id) FROM ${table}), 1), (SELECT max(id) FROM ${table}) IS NOT NULL)`, [seq]);
}
