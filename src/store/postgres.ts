import pg from 'pg';
import type { Signal, SignalKind, SignalDetails } from '../core/signal.js';
import { boundDetails, boundRunId } from '../core/signal-bounds.js';
import { DatabaseError } from '../errors.js';
import { SCHEMA_VERSION } from './migrations.js';
import { MIGRATION_LOCK, PG_MIGRATIONS, VERSION_TABLE } from './postgres-migrations.js';
import { postgresBounded as cut, readMessage, readNote, readTail, RECEIPT_MAX_CHARS } from './bounds.js';
import { describeUrl, sslFromUrl, type SslOptions } from './postgres-url.js';
import { durationOf, outboxEvent as eventOf, pausesFrom, refusalOf, type OutboxRow } from './rows.js';
import type { BeatInput, ClaimBatch, EventStatus, History, OpenOptions, OutboxEvent, ServiceDelivery, Settlement, Store, StoredService, StoreProbe, TransitionInput, TriggerRecord } from './types.js';

export interface PostgresOptions extends OpenOptions {
  /** The password (from the config's `passwordFile`); without it, pg's own PGPASSWORD and ~/.pgpass. */
  password?: string;
  /** Connections in the pool: `medic serve` calls recordBeats concurrently. */
  maxConnections?: number;
  /** The user running medic: certificate files the URL names must be theirs or root's (sslFromUrl). */
  uid?: number;
}

/**
 * pg's two notices that are not the user's business, on stderr of every cron run (a mail a minute):
 * ~/.pgpass support "deprecated in pg@9" (Medic pins pg 8), and sslmode=require treated as
 * verify-full (stronger, as docs/multi-host.md says). Every other warning goes through.
 */
const PG_NOTICES = /^(pgpass support is deprecated|SECURITY WARNING: The SSL modes 'prefer', 'require', and 'verify-ca' are treated as aliases)/;
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  if (PG_NOTICES.test(typeof warning === 'string' ? warning : warning.message)) return;
  (emitWarning as (w: string | Error, ...r: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

/** Bounds: a database that does not answer must not hang a cron job (like SQLite's 15 s busy timeout). */
export const CONNECT_TIMEOUT_MS = 5_000;
export const STATEMENT_TIMEOUT_MS = 15_000;

type Queryable = Pick<pg.PoolClient, 'query'>;
type Row = Record<string, unknown>;

/**
 * Bigint (int8) and numeric (count, sum) as numbers, for this store's own pool only (not pg's global
 * types): every time is epoch ms and every count is far below 2^53.
 */
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === 20 || oid === 1700) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  }) as typeof pg.types.getTypeParser,
};

/**
 * The passwords this process gave pg (password files; PGPASSWORD, which pg reads itself): a hostile
 * or careless server may echo one in its error text, which Medic prints. Kept for the process's
 * life, so every store and client of it masks them, whichever helper built its message.
 */
const PASSWORDS = new Set<string>();

/** `text` with every occurrence of a password, in any case, replaced by `<password>`. */
export function hidePasswords(text: string, env: NodeJS.ProcessEnv = process.env): string {
  const all = [...PASSWORDS, ...(env.PGPASSWORD ? [env.PGPASSWORD] : [])].filter((p) => p !== '');
  if (all.length === 0) return text;
  // Longest first: one password inside another is not left half-shown.
  const pattern = all
    .sort((a, b) => b.length - a.length)
    .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('|');
  return text.replace(new RegExp(pattern, 'gi'), '<password>');
}

/** A server's words (untrusted): one line, no password (hidePasswords), control characters escaped, bounded. */
function serverText(text: unknown): string {
  const s = hidePasswords(String(text ?? '')).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return s.length > 300 ? `${s.slice(0, 297)}...` : s;
}

/**
 * Translates what pg throws into a DatabaseError (exit 74) naming the database (never the
 * password), why, and what to do next.
 */
export function postgresError(url: string, err: unknown): DatabaseError {
  if (err instanceof DatabaseError) return err;
  const where = describeUrl(url);
  const e = err as { code?: string; message?: string; errno?: number };
  const code = e.code ?? '';
  const why = serverText(e.message);
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOENT'].includes(code) || /connection timeout|timeout expired/i.test(e.message ?? '')) {
    return new DatabaseError(
      `cannot connect to ${where}: ${why || code}`,
      'check the host and port in "database" (or MEDIC_DB) and that PostgreSQL is running and accepts connections from this machine (listen_addresses, pg_hba.conf, firewalls)',
    );
  }
  if (code === '28P01' || code === '28000' || /password|SASL|SCRAM/i.test(e.message ?? '')) {
    // pg's words when the server asks for a password and none was found anywhere.
    const none = /client password must be a string/i.test(e.message ?? '');
    return new DatabaseError(
      `cannot log in to ${where}: ${none ? 'the server asks for a password and none was given' : why}`,
      'the password comes from the config\'s "passwordFile", else PGPASSWORD, else ~/.pgpass (host:port:database:user:password, mode 0600); check the user in the URL and pg_hba.conf',
    );
  }
  if (code === '3D000') {
    return new DatabaseError(`${where} does not exist: ${why}`, 'create it (createdb <name>, or CREATE DATABASE) and give the user in the URL the right to create tables in it, or fix the name in "database"');
  }
  if (code === '42501') {
    return new DatabaseError(
      `permission denied on ${where}: ${why}`,
      'grant the user in the URL the rights Medic needs (CONNECT on the database; CREATE and USAGE on its schema for the first run, then SELECT, INSERT, UPDATE, DELETE on Medic\'s tables)',
    );
  }
  if (code === '25006') {
    return new DatabaseError(`cannot write ${where}: this command opened it read-only`, 'status, history, doctor and check --dry-run never change the database; run `medic check` to write it');
  }
  if (code === '57014') {
    return new DatabaseError(`${where} did not answer within ${STATEMENT_TIMEOUT_MS / 1000} s: ${why}`, 'another session may hold a long lock (see pg_stat_activity), or the server is overloaded; the next run tries again');
  }
  if (code === '53100') return new DatabaseError(`cannot write ${where}: the server's disk is full`, 'free space on the database server; nothing was recorded by this command');
  if (code.startsWith('08') || code.startsWith('57P') || /Connection terminated|ECONNRESET|EPIPE|not queryable|Client was closed/i.test(`${code} ${e.message ?? ''}`)) {
    return new DatabaseError(`lost the connection to ${where}: ${why || code}`, 'PostgreSQL stopped or restarted, or the network dropped; nothing half-done was kept, and the next run tries again');
  }
  return new DatabaseError(`${where} failed: ${why}${code && !why.includes(code) ? ` (${code})` : ''}`, 'check the server\'s log; the next run tries again');
}

/** Text parameters: PostgreSQL's TEXT holds no NUL, so one becomes U+FFFD (job text that must keep it is BYTEA). */
function param(v: unknown): unknown {
  return typeof v === 'string' && v.includes('\u0000') ? v.replace(/\u0000/g, '\ufffd') : v;
}

/** Job text as BYTEA (UTF-8: a lone surrogate becomes U+FFFD, as SQLite stores it). */
function bytes(text: string | null | undefined): Buffer | null {
  return text === null || text === undefined ? null : Buffer.from(text, 'utf8');
}
function text(b: unknown): string | null {
  if (b === null || b === undefined) return null;
  return Buffer.isBuffer(b) ? b.toString('utf8') : String(b);
}
/** A job's message read back (the SQL cut it to MESSAGE_MAX_BYTES): its first MESSAGE_MAX_CHARS characters. */
function messageText(b: unknown): string | null {
  return readMessage(text(b));
}
/** A job's output read back (the SQL kept its last bytes): from the first whole character on. */
function tailText(b: unknown): string | null {
  if (!Buffer.isBuffer(b)) return readTail(text(b));
  let start = 0;
  while (start < b.length && start < 3 && (b[start]! & 0xc0) === 0x80) start++;
  return readTail(b.subarray(start).toString('utf8'));
}

/**
 * Opens the PostgreSQL store at `url` (a `postgres://` URL without a password) and, unless
 * read-only, creates or migrates its schema under an advisory lock. A read-only open never creates
 * anything: a database without Medic's tables reads as empty. A database of a newer Medic, or
 * another program's tables, are refused untouched.
 */
export async function openPostgresStore(url: string, opts: PostgresOptions = {}): Promise<PostgresStore> {
  const readOnly = opts.readOnly === true;
  const pool = new pg.Pool({
    ...connectionOptions(url, opts.password, opts.uid),
    max: opts.maxConnections ?? 4,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    // The client's own bound too: a server that accepts and never answers.
    query_timeout: STATEMENT_TIMEOUT_MS + 1_000,
    lock_timeout: STATEMENT_TIMEOUT_MS,
    idle_in_transaction_session_timeout: STATEMENT_TIMEOUT_MS * 2,
    application_name: 'medic',
    keepAlive: true,
    types: TYPES,
    ...(readOnly && { options: '-c default_transaction_read_only=on' }),
  });
  // An idle connection the server dropped (a restart) must not crash the process: the next query reconnects.
  pool.on('error', () => {});
  const store = new PostgresStore(pool, url, readOnly);
  try {
    await store.prepare();
  } catch (err) {
    await pool.end().catch(() => {});
    throw postgresError(url, err);
  }
  return store;
}

/**
 * What pg connects with: the URL (certificate files it names are read by Medic: sslFromUrl) and
 * the password from the password file. Problems with the files are ConfigErrors (78).
 */
export function connectionOptions(url: string, password: string | undefined, uid: number | undefined): { connectionString: string; ssl?: SslOptions | false } {
  const { url: rest, ssl } = sslFromUrl(url, uid ?? process.geteuid?.() ?? 0);
  if (password !== undefined && password !== '') PASSWORDS.add(password);
  return { connectionString: withPassword(rest, password), ...(ssl !== undefined && { ssl }) };
}

/**
 * The URL pg connects with: the password from the password file goes into it in memory only (pg
 * lets a URL's empty password override a `password` option). Never printed: messages use describeUrl.
 */
function withPassword(url: string, password: string | undefined): string {
  if (password === undefined) return url;
  try {
    const u = new URL(url);
    u.password = encodeURIComponent(password);
    return u.toString();
  } catch {
    return url;
  }
}

const newerSchema = (where: string, v: number) =>
  new DatabaseError(
    `${where} has schema version ${v}, written by a newer Medic; this Medic knows up to version ${SCHEMA_VERSION}`,
    'upgrade Medic (or point MEDIC_DB / "database" at another database); the database was left untouched',
  );

interface ServiceRow {
  slug: string;
  registered_at: number;
  last_beat_at: number | null;
  beat_seq: number;
  reset_at: number | null;
  incident_id: number | null;
  incident_down_at: number | null;
  incident_beat_seq: number | null;
  incident_held_since: number | null;
  paused_at: number | null;
  paused_until: number | null;
  pause_reason: string | null;
  failure_at: number | null;
  failure_exit_code: number | null;
  failure_duration_ms: number | null;
  failure_message: Buffer | null;
  failure_output_tail: Buffer | null;
  run_started_at: number | null;
  version: number;
}


/** PostgreSQL keeps job text as BYTEA (it cannot hold NUL as TEXT). */
const BYTES_READER = { message: messageText, tail: tailText };
const outboxEvent = (r: OutboxRow<Buffer>) => eventOf(r, BYTES_READER);

/** The database's clock, epoch ms: the transaction's start, so one statement or one batch stamps one instant. */
const NOW_MS = '(extract(epoch from now()) * 1000)::bigint';

/**
 * recordBeats' one statement. $1..$8: the batch's rows in order (beats and /log lines; a null time
 * is the database's clock). $9..$14: each service's change folded from its beats (foldBeats): the
 * row of its first beat, its successes, and the rows of its last success, of a failure no success
 * followed, and of the start that counts; rows are 1-based positions in the batch. A success or a
 * failure in the batch (`ended`) replaces the failure and the started run; otherwise a start only
 * fills an empty run_started_at. Rows are locked in slug order.
 */
const ENDED = '(excluded.beat_seq > 0 OR excluded.failure_at IS NOT NULL)';
const RECORD_BEATS = `WITH t AS (SELECT ${NOW_MS} AS now),
  b AS MATERIALIZED (
    SELECT u.ord, u.slug, coalesce(u.at, t.now) AS at, u.kind, u.exit_code, u.duration_ms, u.message, u.output_tail, u.run_id
    FROM unnest($1::text[], $2::bigint[], $3::text[], $4::integer[], $5::bigint[], $6::bytea[], $7::bytea[], $8::text[])
      WITH ORDINALITY AS u(slug, at, kind, exit_code, duration_ms, message, output_tail, run_id, ord), t),
  beat AS (INSERT INTO beats (slug, at, kind, exit_code, duration_ms, message, output_tail, run_id)
    SELECT slug, at, kind, exit_code, duration_ms, message, output_tail, run_id FROM b WHERE kind <> 'log' ORDER BY ord),
  line AS (INSERT INTO logs (slug, at, message) SELECT slug, at, message FROM b WHERE kind = 'log' ORDER BY ord)
  INSERT INTO services (slug, registered_at, last_beat_at, beat_seq, failure_at, failure_exit_code, failure_duration_ms,
    failure_message, failure_output_tail, run_started_at)
  SELECT s.slug, f.at, o.at, s.oks, x.at, x.exit_code, x.duration_ms, x.message, x.output_tail, st.at
  FROM unnest($9::text[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[]) AS s(slug, first, oks, last_ok, fail, start)
  JOIN b f ON f.ord = s.first LEFT JOIN b o ON o.ord = s.last_ok LEFT JOIN b x ON x.ord = s.fail LEFT JOIN b st ON st.ord = s.start
  ORDER BY s.slug
  ON CONFLICT (slug) DO UPDATE SET
    last_beat_at = coalesce(excluded.last_beat_at, services.last_beat_at),
    beat_seq = services.beat_seq + excluded.beat_seq,
    ${['failure_at', 'failure_exit_code', 'failure_duration_ms', 'failure_message', 'failure_output_tail'].map((c) => `${c} = CASE WHEN ${ENDED} THEN excluded.${c} ELSE services.${c} END`).join(',\n    ')},
    run_started_at = CASE WHEN ${ENDED} THEN excluded.run_started_at ELSE coalesce(services.run_started_at, excluded.run_started_at) END`;

/** An end (success or failure) with a run id and no duration of its own: its duration comes from its start. */
function needsStart(b: BeatInput): boolean {
  const kind = b.kind ?? 'ok';
  return (kind === 'ok' || kind === 'fail') && boundRunId(b.runId) !== null && b.details?.durationMs == null;
}

const runKey = (slug: string, runId: string) => `${slug}\u0000${runId}`;

/** Text array parameters, each element as param() makes a text parameter. */
function texts(values: (string | null)[]): unknown[] {
  return values.map(param);
}

interface FoldedBeats {
  slug: string[];
  at: (number | null)[];
  kind: string[];
  exitCode: (number | null)[];
  durationMs: (number | null)[];
  message: (Buffer | null)[];
  outputTail: (Buffer | null)[];
  runId: (string | null)[];
  services: string[];
  first: number[];
  oks: number[];
  lastOk: (number | null)[];
  fail: (number | null)[];
  start: (number | null)[];
}

/**
 * A batch as RECORD_BEATS' parameters: its rows, bounded, each end with a run id given the time
 * since its start (`starts`: the latest start per slug and run id written before the batch; a start
 * earlier in the batch replaces it), and each service's change from its beats in order, as
 * recordBeat would make it one beat at a time. `now`: the time of beats that give none (null: the
 * statement's own clock; it is known whenever a run id's duration needs it).
 */
function foldBeats(beats: BeatInput[], now: number | null, starts: Map<string, number>): FoldedBeats {
  const f: FoldedBeats = { slug: [], at: [], kind: [], exitCode: [], durationMs: [], message: [], outputTail: [], runId: [], services: [], first: [], oks: [], lastOk: [], fail: [], start: [] };
  const services = new Map<string, { first: number; oks: number; lastOk: number | null; fail: number | null; start: number | null }>();
  for (const [i, b] of beats.entries()) {
    const row = i + 1;
    const kind = b.kind ?? 'ok';
    const at = b.at ?? now;
    f.slug.push(b.slug);
    f.at.push(at);
    f.kind.push(kind);
    if (kind === 'log') {
      f.exitCode.push(null);
      f.durationMs.push(null);
      f.message.push(bytes(boundDetails(b.details).message ?? ''));
      f.outputTail.push(null);
      f.runId.push(null);
      continue;
    }
    const runId = boundRunId(b.runId);
    let details = b.details;
    if (runId !== null && at !== null) {
      if (kind === 'start') starts.set(runKey(b.slug, runId), at);
      else if (needsStart(b)) {
        const start = starts.get(runKey(b.slug, runId));
        if (start !== undefined && at >= start) details = { ...details, durationMs: at - start };
      }
    }
    const d = boundDetails(details);
    f.exitCode.push(d.exitCode);
    f.durationMs.push(d.durationMs);
    f.message.push(bytes(d.message));
    f.outputTail.push(bytes(d.outputTail));
    f.runId.push(runId);
    let s = services.get(b.slug);
    if (!s) services.set(b.slug, (s = { first: row, oks: 0, lastOk: null, fail: null, start: null }));
    if (kind === 'ok') {
      // A success: the service is fine again, whatever failed or started before.
      s.oks++;
      s.lastOk = row;
      s.fail = null;
      s.start = null;
    } else if (kind === 'fail') {
      s.fail = row;
      s.start = null;
    } else if (s.start === null) {
      // The earliest start that no end followed stays (a start is not a success).
      s.start = row;
    }
  }
  for (const [slug, s] of services) {
    f.services.push(slug);
    f.first.push(s.first);
    f.oks.push(s.oks);
    f.lastOk.push(s.lastOk);
    f.fail.push(s.fail);
    f.start.push(s.start);
  }
  return f;
}

/** An outbox row's columns, job text and notes cut in SQL (bounds.ts): a planted huge row is read bounded. */
const OUTBOX_COLUMNS =
  `id, slug, incident_id, target, action, dedup_key, down_at, last_beat_at, missed_heartbeats, ${cut.note('reason')}, exit_code, duration_ms, ` +
  `${cut.message('message')}, ${cut.tail('output_tail')}, created_at, status, attempts, next_attempt_at, ${cut.note('last_error')}, ` +
  `refused_at, refused_status, ${cut.note('refused_answer')}, refused_fingerprint`;

const SERVICE_COLUMNS =
  'slug, registered_at, last_beat_at, beat_seq, reset_at, incident_id, incident_down_at, incident_beat_seq, incident_held_since, paused_at, paused_until, ' +
  `${cut.note('pause_reason')}, failure_at, failure_exit_code, failure_duration_ms, ${cut.message('failure_message')}, ${cut.tail('failure_output_tail')}, ` +
  'run_started_at, version';

/** At most this many batches of 1000 rows per prune() call (as SQLite). */
const PRUNE_BATCHES = 50;

export class PostgresStore implements Store {
  /** False: a read-only open found no Medic schema; it reads as an empty store. */
  private exists = true;
  /** The schema version read: SCHEMA_VERSION unless a read-only open found an older one. */
  private schema = SCHEMA_VERSION;
  private readonly where: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
    private readonly readOnly: boolean,
  ) {
    this.where = describeUrl(url);
  }

  /** Checks (and unless read-only, creates or migrates) the schema. */
  async prepare(): Promise<void> {
    const version = await this.version(this.pool);
    if (version === 'foreign') throw await this.foreign();
    if (version !== null && version > SCHEMA_VERSION) throw newerSchema(this.where, version);
    if (version === SCHEMA_VERSION) return;
    if (this.readOnly) {
      if (version !== null) this.schema = version;
      if (version === null) this.exists = false;
      return;
    }
    await this.tx(async (c) => {
      // Two processes opening a new database: the second waits here, then finds it migrated.
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      const v = await this.version(c);
      if (v === 'foreign') throw await this.foreign();
      if (v !== null && v > SCHEMA_VERSION) throw newerSchema(this.where, v);
      if (v === null) await c.query(`CREATE TABLE ${VERSION_TABLE} (version INTEGER NOT NULL)`);
      for (const m of PG_MIGRATIONS) {
        if (v !== null && m.version <= v) continue;
        await c.query(m.up);
      }
      await c.query(`DELETE FROM ${VERSION_TABLE}`);
      await c.query(`INSERT INTO ${VERSION_TABLE} (version) VALUES ($1)`, [SCHEMA_VERSION]);
    });
  }

  /** The schema version; null: no Medic schema and no other tables; 'foreign': other tables, no Medic version. */
  private async version(c: Queryable): Promise<number | null | 'foreign'> {
    const { rows } = await c.query(
      `SELECT to_regclass($1) IS NOT NULL AS ours,
       EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema()) AS tables`,
      [VERSION_TABLE],
    );
    const r = rows[0] as { ours: boolean; tables: boolean };
    if (!r.ours) return r.tables ? 'foreign' : null;
    const v = await c.query(`SELECT max(version) AS v FROM ${VERSION_TABLE}`);
    return ((v.rows[0] as { v: number | null }).v ?? 0) as number;
  }

  private async foreign(): Promise<DatabaseError> {
    const { rows } = await this.pool.query("SELECT string_agg(tablename, ', ') AS t FROM (SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename LIMIT 5) x");
    return new DatabaseError(
      `${this.where} is not a Medic database: its schema holds another program's tables (${serverText((rows[0] as { t: string | null }).t ?? '')}) and no Medic schema version`,
      'point MEDIC_DB or "database" at a new, empty database (createdb medic); Medic did not change this one',
    );
  }

  private async q<T = Row>(c: Queryable, sql: string, params: unknown[] = []): Promise<T[]> {
    return (await c.query(sql, params.map(param))).rows as T[];
  }

  /** A read, or its empty answer when a read-only open found no schema. */
  private async read<T>(empty: T, fn: (c: Queryable) => Promise<T>): Promise<T> {
    if (!this.exists) return empty;
    try {
      return await fn(this.pool);
    } catch (err) {
      throw postgresError(this.url, err);
    }
  }

  private async write<T>(fn: (c: Queryable) => Promise<T>): Promise<T> {
    if (this.readOnly) throw postgresError(this.url, { code: '25006' });
    return this.tx(fn);
  }

  /** One transaction on one connection; rolled back on any error, which becomes a DatabaseError. */
  private async tx<T>(fn: (c: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw postgresError(this.url, err);
    }
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw postgresError(this.url, err);
    } finally {
      client.release(broken);
    }
  }

  recordBeat(slug: string, at: number, signal?: { kind: SignalKind } & SignalDetails): Promise<void> {
    return this.recordBeats([{ slug, at, kind: signal?.kind, details: signal }]);
  }

  /**
   * A batch in one statement (beats, /log lines and the services' live state in data-modifying
   * WITHs), plus one read first when a run id's end needs its start's time. Each service's change
   * is folded here from its beats in batch order (foldBeats); services rows are written in slug
   * order, so two batches touching the same services in different orders never deadlock.
   */
  async recordBeats(beats: BeatInput[]): Promise<void> {
    if (beats.length === 0) return;
    if (this.readOnly) throw postgresError(this.url, { code: '25006' });
    try {
      const ends = beats.filter((b) => needsStart(b));
      let now: number | null = null;
      const starts = new Map<string, number>();
      if (ends.length > 0) {
        // The latest start written with each end's run id, and one database time for the beats that give none.
        const rows = await this.q<{ now: number; slug: string; run_id: string; at: number | null }>(
          this.pool,
          `SELECT ${NOW_MS} AS now, e.slug, e.run_id,
           (SELECT at FROM beats b WHERE b.slug = e.slug AND b.run_id = e.run_id AND b.kind = 'start' ORDER BY b.id DESC LIMIT 1) AS at
           FROM unnest($1::text[], $2::text[]) AS e(slug, run_id)`,
          [texts(ends.map((b) => b.slug)), texts(ends.map((b) => boundRunId(b.runId)))],
        );
        now = rows[0]!.now;
        for (const r of rows) if (r.at !== null) starts.set(runKey(r.slug, r.run_id), r.at);
      }
      const f = foldBeats(beats, now, starts);
      // Unnamed (no server-side prepared statement): poolers in transaction mode (PgBouncer) keep working.
      await this.pool.query(RECORD_BEATS, [
        ...[texts(f.slug), f.at, f.kind, f.exitCode, f.durationMs, f.message, f.outputTail, texts(f.runId)],
        ...[texts(f.services), f.first, f.oks, f.lastOk, f.fail, f.start],
      ]);
    } catch (err) {
      throw postgresError(this.url, err);
    }
  }

  clock(): Promise<number | null> {
    return (async () => {
      try {
        return (await this.q<{ now: number }>(this.pool, `SELECT ${NOW_MS} AS now`))[0]!.now;
      } catch (err) {
        throw postgresError(this.url, err);
      }
    })();
  }

  register(slugs: string[], at: number): Promise<void> {
    return this.write(async (c) => {
      if (slugs.length === 0) return;
      await this.q(c, 'INSERT INTO services (slug, registered_at) SELECT unnest($1::text[]), $2 ON CONFLICT (slug) DO NOTHING', [slugs, at]);
    });
  }

  forget(slugs: string[]): Promise<void> {
    return this.write(async (c) => {
      await this.q(c, 'DELETE FROM services WHERE slug = ANY($1::text[]) AND incident_id IS NULL', [slugs]);
    });
  }

  services(): Promise<StoredService[]> {
    return this.read([], async (c) =>
      (await this.q<ServiceRow>(c, `SELECT ${SERVICE_COLUMNS} FROM services ORDER BY slug`)).map((r) => ({
        slug: r.slug,
        registeredAt: r.registered_at,
        lastBeatAt: r.last_beat_at,
        beatSeq: r.beat_seq,
        resetAt: r.reset_at,
        pause: r.paused_at !== null ? { since: r.paused_at, until: r.paused_until, reason: readNote(r.pause_reason) } : null,
        incident: r.incident_down_at !== null ? { downAt: r.incident_down_at, beatSeq: r.incident_beat_seq ?? 0, heldSince: r.incident_held_since } : null,
        failure:
          r.failure_at !== null
            ? {
                kind: 'fail' as const,
                at: r.failure_at,
                exitCode: r.failure_exit_code,
                durationMs: r.failure_duration_ms,
                message: messageText(r.failure_message),
                outputTail: tailText(r.failure_output_tail),
              }
            : null,
        runStartedAt: r.run_started_at,
        incidentId: r.incident_id,
        version: r.version,
      })),
    );
  }

  applyTransitions(changes: TransitionInput[], now: number): Promise<string[]> {
    return this.write(async (c) => {
      const applied: string[] = [];
      for (const ch of changes) {
        const [t] = await this.q<{ id: number }>(
          c,
          'INSERT INTO transitions (slug, from_state, to_state, at, recorded_at, reason) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id',
          [ch.slug, ch.from, ch.to, ch.at, now, ch.reason],
        );
        const transitionId = t!.id;
        if (!(await this.changeService(c, ch, transitionId))) {
          // Someone else changed it first (compare-and-set): drop this change and its record.
          await this.q(c, 'DELETE FROM transitions WHERE id = $1', [transitionId]);
          continue;
        }
        applied.push(ch.slug);
        if (ch.events === 'resolve-sent-triggers') {
          if (ch.to === 'up') {
            await this.q(
              c,
              `INSERT INTO outbox (slug, incident_id, target, action, dedup_key, created_at, next_attempt_at)
               SELECT slug, incident_id, target, 'resolve', dedup_key, $1, $1 FROM outbox
               WHERE action = 'trigger' AND incident_id = $2 ORDER BY id`,
              [now, ch.incidentId],
            );
          }
        } else {
          for (const e of ch.events) {
            const f = e.facts;
            const d = boundDetails(f ?? undefined);
            await this.q(
              c,
              `INSERT INTO outbox (slug, incident_id, target, action, dedup_key, down_at, last_beat_at, missed_heartbeats,
               reason, exit_code, duration_ms, message, output_tail, created_at, next_attempt_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)`,
              [
                ch.slug,
                transitionId,
                e.target,
                e.action,
                e.dedupKey,
                f?.downAt ?? null,
                f?.lastBeatAt ?? null,
                f?.missedHeartbeats ?? null,
                f ? (f.reason ?? 'missed') : null,
                d.exitCode,
                d.durationMs,
                bytes(d.message),
                bytes(d.outputTail),
                now,
              ],
            );
          }
        }
      }
      return applied;
    });
  }

  /** The compare-and-set: true when this change won (the version it was loaded with is still current). */
  private async changeService(c: Queryable, ch: TransitionInput, transitionId: number): Promise<boolean> {
    const where = 'WHERE slug = $1 AND version = $2 AND incident_id IS';
    let r: pg.QueryResult;
    switch (ch.to) {
      case 'down':
        r = await c.query(
          `UPDATE services SET incident_id = $3, incident_down_at = $4, incident_beat_seq = $5, incident_held_since = NULL, version = version + 1 ${where} NULL`,
          [ch.slug, ch.version, transitionId, ch.at, ch.beatSeq],
        );
        break;
      case 'up':
        r = await c.query(
          `UPDATE services SET incident_id = NULL, incident_down_at = NULL, incident_beat_seq = NULL, incident_held_since = NULL, version = version + 1 ${where} NOT NULL`,
          [ch.slug, ch.version],
        );
        break;
      case 'flapping':
      case 'relapse':
        r = await c.query(`UPDATE services SET incident_held_since = $3, incident_beat_seq = $4, version = version + 1 ${where} NOT NULL`, [
          ch.slug,
          ch.version,
          ch.to === 'flapping' ? ch.at : null,
          ch.beatSeq,
        ]);
        break;
    }
    return r.rowCount === 1;
  }

  pendingEvents(): Promise<OutboxEvent[]> {
    return this.read([], async (c) => (await this.q<OutboxRow<Buffer>>(c, `SELECT ${OUTBOX_COLUMNS} FROM outbox WHERE status = 'pending' ORDER BY id`)).map(outboxEvent));
  }

  claimEvents(owner: string, now: number, leaseMs: number, batch?: ClaimBatch): Promise<OutboxEvent[]> {
    return this.write(async (c) => {
      // A batch: after its cursor, at most `limit`, of the services asked for (or of all the others).
      const params: unknown[] = [owner, now + leaseMs, now, now + 2 * leaseMs, batch?.afterId ?? 0];
      let page = 'AND id > $5';
      if (batch?.services) {
        params.push(batch.services.slugs);
        page += batch.services.only ? ` AND slug = ANY($${params.length}::text[])` : ` AND NOT (slug = ANY($${params.length}::text[]))`;
      }
      if (batch) {
        params.push(batch.limit);
        page += ` ORDER BY id LIMIT $${params.length}`;
      } else page += ' ORDER BY id';
      // SKIP LOCKED: events another checker is claiming right now are left to it; a claim it
      // committed is seen (and its live lease respected) when the row is re-checked. The pick is a
      // CTE, run once: as `id IN (subquery)`, a rescan skips the rows this UPDATE already changed
      // and its LIMIT picks more.
      const rows = await this.q<OutboxRow<Buffer>>(
        c,
        `WITH picked AS (SELECT id AS picked_id FROM outbox WHERE status = 'pending'
           AND (claimed_by IS NULL OR claimed_by = $1 OR claimed_until <= $3 OR claimed_until > $4)
           ${page} FOR UPDATE SKIP LOCKED)
         UPDATE outbox SET claimed_by = $1, claimed_until = $2 FROM picked
         WHERE id = picked_id AND status = 'pending' AND (claimed_by IS NULL OR claimed_by = $1 OR claimed_until <= $3 OR claimed_until > $4)
         RETURNING ${OUTBOX_COLUMNS}`,
        params,
      );
      return rows.sort((a, b) => a.id - b.id).map(outboxEvent);
    });
  }

  holdsClaim(id: number, owner: string, now: number): Promise<boolean> {
    return this.read(false, async (c) => {
      const rows = await this.q(c, "SELECT 1 FROM outbox WHERE id = $1 AND status = 'pending' AND claimed_by = $2 AND claimed_until > $3", [id, owner, now]);
      return rows.length === 1;
    });
  }

  triggerOf(slug: string, incidentId: number, target: string): Promise<TriggerRecord | null> {
    return this.read(null, async (c) => {
      const [row] = await this.q<{ status: EventStatus; down_at: number | null; receipt: string | null }>(
        c,
        `SELECT status, down_at, substr(receipt, 1, ${RECEIPT_MAX_CHARS}) AS receipt FROM outbox
         WHERE slug = $1 AND incident_id = $2 AND target = $3 AND action = 'trigger' ORDER BY id DESC LIMIT 1`,
        [slug, incidentId, target],
      );
      if (!row) return null;
      return { status: row.status, downAt: typeof row.down_at === 'number' ? row.down_at : null, receipt: typeof row.receipt === 'string' ? row.receipt : null };
    });
  }

  private async logDelivery(c: Queryable, id: number, outcome: string, detail: string | null, now: number): Promise<void> {
    await this.q(
      c,
      `INSERT INTO deliveries (outbox_id, slug, target, action, at, outcome, detail)
       SELECT id, slug, target, action, $1, $2, $3 FROM outbox WHERE id = $4 AND status = 'pending'`,
      [now, outcome, detail, id],
    );
  }

  noteAttempt(id: number, error: string, now: number): Promise<void> {
    return this.write((c) => this.logDelivery(c, id, 'retry', error, now));
  }

  settle(id: number, outcome: Settlement, now: number): Promise<void> {
    return this.write((c) => this.settleIn(c, id, outcome, now));
  }

  private async settleIn(c: Queryable, id: number, outcome: Settlement, now: number): Promise<void> {
    await this.logDelivery(c, id, outcome.status === 'refused' ? 'rejected' : outcome.status, outcome.status === 'delivered' ? outcome.response : outcome.error, now);
    if (outcome.status === 'retry') {
      await this.q(
        c,
        `UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2,
         refused_at = NULL, refused_status = NULL, refused_answer = NULL, refused_fingerprint = NULL, claimed_by = NULL, claimed_until = NULL
         WHERE id = $3 AND status = 'pending'`,
        [outcome.error, outcome.nextAttemptAt, id],
      );
    } else if (outcome.status === 'refused') {
      await this.q(
        c,
        `UPDATE outbox SET last_error = $1, refused_at = $2, refused_status = $3, refused_answer = $4, refused_fingerprint = $5,
         claimed_by = NULL, claimed_until = NULL WHERE id = $6 AND status = 'pending'`,
        [outcome.error, now, outcome.httpStatus, outcome.answer, outcome.fingerprint, id],
      );
    } else {
      await this.q(
        c,
        `UPDATE outbox SET status = $1, attempts = attempts + $2, last_error = $3, response = $4, receipt = $7, settled_at = $5, claimed_by = NULL, claimed_until = NULL
         WHERE id = $6 AND status = 'pending'`,
        [
          outcome.status,
          outcome.status === 'skipped' ? 0 : 1,
          outcome.status === 'delivered' ? null : outcome.error,
          outcome.status === 'skipped' ? null : outcome.response,
          now,
          id,
          outcome.status === 'delivered' ? (outcome.receipt ?? null) : null,
        ],
      );
    }
  }

  reroute(id: number, targets: string[], reason: string, now: number): Promise<number> {
    return this.write(async (c) => {
      let queued = 0;
      for (const target of targets) {
        const r = await c.query(
          `INSERT INTO outbox (slug, incident_id, target, action, dedup_key, down_at, last_beat_at, missed_heartbeats,
           reason, exit_code, duration_ms, message, output_tail, created_at, next_attempt_at)
           SELECT slug, incident_id, $1, 'trigger', dedup_key, down_at, last_beat_at, missed_heartbeats,
           reason, exit_code, duration_ms, message, output_tail, $2, $2
           FROM outbox o WHERE id = $3 AND action = 'trigger' AND status = 'pending'
           AND NOT EXISTS (SELECT 1 FROM outbox x WHERE x.slug = o.slug AND x.incident_id = o.incident_id AND x.target = $1 AND x.action = 'trigger')`,
          [param(target), now, id],
        );
        queued += r.rowCount ?? 0;
      }
      await this.settleIn(c, id, { status: 'skipped', error: reason }, now);
      return queued;
    });
  }

  pendingCounts(): Promise<Map<string, number>> {
    return this.read(new Map(), async (c) => {
      const rows = await this.q<{ slug: string; n: number }>(c, "SELECT slug, count(*) AS n FROM outbox WHERE status = 'pending' GROUP BY slug");
      return new Map(rows.map((r) => [r.slug, r.n]));
    });
  }

  targetDeliveries(targets: string[]): Promise<Map<string, { pending: number; refused: number }>> {
    return this.read(new Map(), async (c) => {
      const rows = await this.q<{ target: string; pending: number; refused: number }>(
        c,
        `SELECT target, count(*) AS pending, count(refused_at) AS refused FROM outbox
         WHERE status = 'pending' AND target = ANY($1::text[]) GROUP BY target`,
        [targets],
      );
      return new Map(rows.map((r) => [r.target, { pending: Number(r.pending), refused: Number(r.refused) }]));
    });
  }

  deliveryStates(): Promise<Map<string, ServiceDelivery>> {
    return this.read(new Map(), async (c) => {
      const states = new Map<string, ServiceDelivery>();
      const state = (slug: string) => {
        let s = states.get(slug);
        if (!s) states.set(slug, (s = { pending: 0, refusedCount: 0, refused: null, lastError: null, openIncident: null }));
        return s;
      };
      type PendingRow = Pick<OutboxRow, 'slug' | 'target' | 'action' | 'last_error' | 'refused_at' | 'refused_status' | 'refused_answer' | 'refused_fingerprint'>;
      const pending = await this.q<PendingRow>(
        c,
        `SELECT slug, target, action, ${cut.note('last_error')}, refused_at, refused_status, ${cut.note('refused_answer')}, refused_fingerprint FROM outbox WHERE status = 'pending' ORDER BY id`,
      );
      for (const r of pending) {
        const s = state(r.slug);
        s.pending++;
        const refusal = refusalOf(r);
        if (refusal) s.refusedCount++;
        if (refusal && !s.refused) s.refused = { target: r.target, action: r.action, refusal };
        if (r.last_error !== null && !s.lastError) s.lastError = { target: r.target, action: r.action, error: readNote(r.last_error) };
      }
      const open = await this.q<{ slug: string; delivered: number; dropped: number }>(
        c,
        `SELECT s.slug, count(*) FILTER (WHERE o.status = 'delivered') AS delivered, count(*) FILTER (WHERE o.status IN ('skipped', 'rejected')) AS dropped
         FROM services s JOIN outbox o ON o.incident_id = s.incident_id AND o.action = 'trigger'
         GROUP BY s.slug`,
      );
      for (const r of open) state(r.slug).openIncident = { delivered: r.delivered, dropped: r.dropped };
      return states;
    });
  }

  recentTriggers(since: number): Promise<Map<string, number>> {
    return this.read(new Map(), async (c) => {
      const rows = await this.q<{ slug: string; n: number }>(
        c,
        "SELECT slug, count(*) AS n FROM transitions WHERE to_state IN ('down', 'relapse') AND at >= $1 GROUP BY slug",
        [since],
      );
      return new Map(rows.map((r) => [r.slug, r.n]));
    });
  }

  pause(slugs: string[], now: number, until: number | null, reason: string | null, record: string): Promise<string[]> {
    return this.write(async (c) => {
      for (const slug of slugs) {
        await this.q(c, 'INSERT INTO services (slug, registered_at) VALUES ($1, $2) ON CONFLICT (slug) DO NOTHING', [slug, now]);
        await this.q(c, 'UPDATE services SET paused_at = $1, paused_until = $2, pause_reason = $3, version = version + 1 WHERE slug = $4', [now, until, reason, slug]);
        await this.q(c, "INSERT INTO transitions (slug, from_state, to_state, at, recorded_at, reason, until_at) VALUES ($1, '', 'paused', $2, $2, $3, $4)", [
          slug,
          now,
          record,
          until,
        ]);
      }
      return slugs;
    });
  }

  resume(slugs: string[], now: number): Promise<string[]> {
    return this.write(async (c) => {
      const resumed: string[] = [];
      for (const slug of slugs) {
        const r = await c.query(
          `UPDATE services SET paused_at = NULL, paused_until = NULL, pause_reason = NULL, reset_at = $1, version = version + 1
           WHERE slug = $2 AND paused_at IS NOT NULL AND (paused_until IS NULL OR paused_until > $1)`,
          [now, slug],
        );
        if (r.rowCount === 1) {
          await this.q(c, "INSERT INTO transitions (slug, from_state, to_state, at, recorded_at, reason) VALUES ($1, 'paused', 'resumed', $2, $2, 'resumed')", [slug, now]);
          resumed.push(slug);
        }
      }
      return resumed;
    });
  }

  recordGap(slugs: string[], from: number, to: number, record: string): Promise<void> {
    return this.write(async (c) => {
      for (const slug of slugs) {
        await this.q(c, 'UPDATE services SET reset_at = $1, version = version + 1 WHERE slug = $2', [to, slug]);
        await this.q(c, "INSERT INTO transitions (slug, from_state, to_state, at, recorded_at, reason) VALUES ($1, '', 'unknown', $2, $2, $3)", [slug, to, record]);
      }
      await this.q(c, 'UPDATE checker SET blind_from = $1, blind_to = $2 WHERE id = 1', [from, to]);
    });
  }

  capFutureBeats(now: number): Promise<string[]> {
    return this.write(async (c) =>
      (await this.q<{ slug: string }>(c, 'UPDATE services SET last_beat_at = $1, version = version + 1 WHERE last_beat_at > $1 RETURNING slug', [now])).map((r) => r.slug),
    );
  }

  lastGap(): Promise<{ from: number; to: number } | null> {
    return this.read(null, async (c) => {
      const [row] = await this.q<{ blind_from: number | null; blind_to: number | null }>(c, 'SELECT blind_from, blind_to FROM checker WHERE id = 1');
      return row && row.blind_from !== null && row.blind_to !== null ? { from: row.blind_from, to: row.blind_to } : null;
    });
  }

  async prune(beatsBefore: number, recordsBefore: number): Promise<number> {
    if (this.readOnly) throw postgresError(this.url, { code: '25006' });
    const batches = [
      'DELETE FROM beats WHERE id IN (SELECT id FROM beats WHERE at < $1 LIMIT 1000)',
      'DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE at < $1 LIMIT 1000)',
      'DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE at < $1 LIMIT 1000)',
      `DELETE FROM transitions WHERE id IN (SELECT id FROM transitions WHERE at < $1 AND id NOT IN
       (SELECT incident_id FROM services WHERE incident_id IS NOT NULL) LIMIT 1000)`,
      "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE status <> 'pending' AND created_at < $1 LIMIT 1000)",
    ];
    // Small batches, each its own short statement (autocommit), so beats arriving meanwhile never wait long.
    let deleted = 0;
    let left = PRUNE_BATCHES;
    try {
      for (const [i, sql] of batches.entries()) {
        const before = i <= 1 ? beatsBefore : recordsBefore;
        while (left-- > 0) {
          const n = (await this.pool.query(sql, [before])).rowCount ?? 0;
          deleted += n;
          if (n < 1000) break;
        }
      }
    } catch (err) {
      throw postgresError(this.url, err);
    }
    return deleted;
  }

  history(slug: string, since: number, until: number): Promise<History> {
    const empty: History = { beats: [], logs: [], signals: [], pauses: [], resets: [], transitions: [], deliveries: [] };
    return this.read(empty, async (c) => {
      const range = [slug, since, until];
      const beats = await this.q<{ at: number }>(c, "SELECT at FROM beats WHERE slug = $1 AND at >= $2 AND at <= $3 AND kind = 'ok' ORDER BY at, id", range);
      const signals = await this.q<{ kind: SignalKind; at: number; exit_code: number | null; duration_ms: number | null; message: Buffer | null; output_tail: Buffer | null }>(
        c,
        `SELECT kind, at, exit_code, duration_ms, ${cut.message('message')}, ${cut.tail('output_tail')} FROM beats
         WHERE slug = $1 AND at >= $2 AND at <= $3
         AND (kind <> 'ok' OR exit_code IS NOT NULL OR duration_ms IS NOT NULL OR message IS NOT NULL OR output_tail IS NOT NULL)
         ORDER BY at, id`,
        range,
      );
      const logs = await this.q<{ at: number; message: Buffer }>(c, `SELECT at, ${cut.message('message')} FROM logs WHERE slug = $1 AND at >= $2 AND at <= $3 ORDER BY at, id`, range);
      const resets = await this.q<{ at: number }>(
        c,
        `SELECT at FROM transitions WHERE slug = $1 AND at >= $2 AND at <= $3 AND (to_state = 'resumed' OR (from_state = '' AND to_state = 'unknown')) ORDER BY at, id`,
        range,
      );
      const transitions = await this.q<{ at: number; recorded_at: number; from_state: string; to_state: string; reason: string }>(
        c,
        `SELECT at, recorded_at, from_state, to_state, ${cut.note('reason')} FROM transitions WHERE slug = $1 AND at >= $2 AND at <= $3 ORDER BY at, id`,
        range,
      );
      const deliveries = await this.q<History['deliveries'][number]>(
        c,
        `SELECT at, target, action, outcome, ${cut.note('detail')} FROM deliveries WHERE slug = $1 AND at >= $2 AND at <= $3 ORDER BY at, id`,
        range,
      );
      return {
        beats: beats.map((r) => r.at),
        logs: logs.map((r) => ({ at: r.at, message: messageText(r.message) ?? '' })),
        signals: signals.map(
          (r): Signal => ({ kind: r.kind, at: r.at, exitCode: r.exit_code, durationMs: r.duration_ms, message: messageText(r.message), outputTail: tailText(r.output_tail) }),
        ),
        pauses: await this.pauses(c, slug, since, until),
        resets: resets.map((r) => r.at),
        transitions: transitions.map((r) => ({ at: r.at, recordedAt: r.recorded_at, from: r.from_state, to: r.to_state, reason: readNote(r.reason) })),
        deliveries: deliveries.map((d) => ({ ...d, detail: readNote(d.detail) })),
      };
    });
  }

  /** As SqliteStore's: pause records with their own end and what ended them; the running pause from the service. */
  private async pauses(c: Queryable, slug: string, since: number, until: number): Promise<History['pauses']> {
    const records = await this.q<{ to_state: string; at: number; until_at: number | null }>(
      c,
      "SELECT to_state, at, until_at FROM transitions WHERE slug = $1 AND to_state IN ('paused', 'resumed') AND at <= $2 ORDER BY at, id",
      [slug, until],
    );
    const [live] = await this.q<{ paused_at: number | null; paused_until: number | null }>(c, 'SELECT paused_at, paused_until FROM services WHERE slug = $1', [slug]);
    return pausesFrom(records, live, since, until);
  }

  acquireLock(owner: string, now: number, leaseMs: number, takeOverFrom?: string): Promise<{ acquired: boolean; holder: string | null }> {
    return this.write(async (c) => {
      // The row lock makes racing checkers queue here; each re-checks the WHERE on the winner's row.
      const taken = await c.query(
        // A holder renewing its own lease keeps the moment it took it.
        `UPDATE checker SET owner = $1, lease_until = $2, locked_at = CASE WHEN owner IS NOT DISTINCT FROM $1 THEN locked_at ELSE $3 END
         WHERE id = 1 AND (owner IS NULL OR lease_until <= $3 OR lease_until > $4 OR owner = $5)`,
        [param(owner), now + leaseMs, now, now + 2 * leaseMs, takeOverFrom === undefined ? null : param(takeOverFrom)],
      );
      if (taken.rowCount === 1) {
        // Taken over from a checker known to be gone: its claims on events go with its lease.
        if (takeOverFrom !== undefined) await this.q(c, "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = $1 AND status = 'pending'", [takeOverFrom]);
        return { acquired: true, holder: owner };
      }
      const [row] = await this.q<{ owner: string | null }>(c, 'SELECT left(owner, 200) AS owner FROM checker WHERE id = 1');
      return { acquired: false, holder: row?.owner ?? null };
    });
  }

  releaseLock(owner: string, lastRunAt: number): Promise<void> {
    return this.write(async (c) => {
      await this.q(
        c,
        'UPDATE checker SET owner = NULL, lease_until = NULL, last_run_at = $1, last_run_by = owner, last_run_started_at = locked_at, locked_at = NULL WHERE id = 1 AND owner = $2',
        [lastRunAt, owner],
      );
      await this.q(c, "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = $1 AND status = 'pending'", [owner]);
    });
  }

  noteCheckAttempt(at: number): Promise<void> {
    return this.write(async (c) => {
      await this.q(c, 'UPDATE checker SET last_run_at = $1, last_run_started_at = NULL WHERE id = 1 AND (last_run_at IS NULL OR last_run_at < $1)', [at]);
    });
  }

  lastCheckAt(): Promise<number | null> {
    return this.read(null, async (c) => (await this.q<{ last_run_at: number | null }>(c, 'SELECT last_run_at FROM checker WHERE id = 1'))[0]?.last_run_at ?? null);
  }

  lastChecker(): Promise<string | null> {
    return this.read(null, async (c) => (await this.q<{ last_run_by: string | null }>(c, 'SELECT left(last_run_by, 200) AS last_run_by FROM checker WHERE id = 1'))[0]?.last_run_by ?? null);
  }

  lastCheckDurationMs(): Promise<number | null> {
    return this.read(null, async (c) => {
      // A read-only open of an older schema (written by an older Medic) has no such columns.
      if (this.schema < 7) return null;
      const [row] = await this.q<{ last_run_at: number | null; last_run_started_at: number | null }>(c, 'SELECT last_run_at, last_run_started_at FROM checker WHERE id = 1');
      return row ? durationOf(row.last_run_started_at, row.last_run_at) : null;
    });
  }

  schemaVersion(): Promise<number> {
    return this.read(SCHEMA_VERSION, async (c) => {
      const v = await this.version(c);
      return typeof v === 'number' ? v : 0;
    });
  }

  /**
   * Connects and writes in a transaction that is rolled back (READ WRITE even on a read-only
   * open): the rights `medic check` needs, found out without leaving a trace. Without a schema yet:
   * whether this user could create it.
   */
  async probe(): Promise<StoreProbe> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw postgresError(this.url, err);
    }
    let broken = false;
    try {
      await client.query('BEGIN READ WRITE');
      try {
        if (this.exists) await client.query('UPDATE checker SET owner = owner WHERE id = 1');
        else await client.query('CREATE TABLE medic_write_probe (x INTEGER)');
      } finally {
        await client.query('ROLLBACK');
      }
      return { exists: this.exists };
    } catch (err) {
      broken = true;
      throw postgresError(this.url, err);
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }
}
