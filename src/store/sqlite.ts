import Database from 'better-sqlite3';
import { accessSync, chmodSync, closeSync, constants, existsSync, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, statSync, statfsSync, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { Signal, SignalDetails, SignalKind } from '../core/signal.js';
import { boundDetails, boundRunId } from '../core/signal-bounds.js';
import { DatabaseError } from '../errors.js';
import { trustProblem } from '../file-trust.js';
import { readInteger, readMessage, readNote, readTail, RECEIPT_MAX_CHARS, sqliteBounded as cut } from './bounds.js';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.js';
import { durationOf, outboxEvent as eventOf, pausesFrom, refusalOf, TEXT_READER, type OutboxRow } from './rows.js';
import type { Action, BeatInput, ClaimBatch, EventStatus, History, OpenOptions, OutboxEvent, ServiceDelivery, Settlement, Store, StoredService, StoreProbe, TransitionInput, TriggerRecord } from './types.js';

type Db = Database.Database;

/** An outbox row as the Store gives it (rows.ts), job text as TEXT. */
const outboxEvent = (r: OutboxRow) => eventOf(r, TEXT_READER);

/** The database file's mode unless the config's `databaseMode` asks for the group set-up (0o660). */
export const DEFAULT_DATABASE_MODE = 0o600;

export interface SqliteOptions extends OpenOptions {
  /**
   * The user medic runs as: only files it or root owns are trusted (SPEC §8). cli.ts passes it;
   * without it, this process's effective uid (the one whose rights open the file).
   */
  uid?: number;
  /** Its primary group (see trustProblem); without it, a group-writable folder is refused. */
  gid?: number;
  /** The file's mode: 0o600, or 0o660 for several users sharing one group (the folder may then be group-writable). */
  mode?: number;
}

/** How a store was opened, for its methods: probe() and the messages they give. */
interface Opened {
  uid: number;
  /** The primary group of the user running medic (see trustProblem). */
  gid: number | undefined;
  mode: number;
  readOnly: boolean;
  /** False: there is no database file; a read-only open reads an empty one held in memory. */
  exists: boolean;
  /** The file's schema version when a read-only open found it older than this Medic's. */
  olderSchema: number | null;
  /** The opened file's device and inode, checked against the path (pathProblem); null: nothing to check. */
  identity?: FileIdentity | null;
}

/** A file's device and inode: what a path must still name for the store to go on using its open file. */
export interface FileIdentity {
  dev: number;
  ino: number;
}

/**
 * A store checks that its path still names the file it opened at most this often; a commit of
 * beats (recordBeats) and probe() check every time. One lstat costs a few microseconds: never one per
 * beat, nor one per read of a status page rendering thousands of services.
 */
export const IDENTITY_RECHECK_MS = 1000;

/**
 * The database file was moved, deleted or replaced (by a folder, a link, another file) while a
 * store had it open: what the store would write would go into a file no other medic reads.
 */
export class DatabaseMovedError extends DatabaseError {
  /** Spelled out (not the class's name, which a bundler may change): serve's /healthz tells it by this. */
  override name = 'DatabaseMovedError';
}

/**
 * Opens the database safely (SPEC §8), creating it if needed and not read-only: folders Medic
 * creates get 0700 (0770 in the group set-up), the file exactly the configured mode whatever the
 * umask. A symbolic link at the path is never followed, and a file or folder that someone else
 * could have planted or changed is refused. Then migrates it, unless read-only. WAL plus a
 * generous busy timeout lets many `medic beat` processes and a `medic check` write at once.
 */
export function openSqliteStore(path: string, opts: SqliteOptions = {}): SqliteStore {
  const opened: Opened = {
    uid: opts.uid ?? process.geteuid?.() ?? 0,
    gid: opts.gid,
    mode: opts.mode ?? DEFAULT_DATABASE_MODE,
    readOnly: opts.readOnly === true,
    exists: true,
    olderSchema: null,
  };
  const db = guard(path, () => {
    const dir = dirname(path);
    let file = lstatOrNull(path);
    if (!file && opened.readOnly) {
      // Nothing to read and nothing may be created: an empty database. The folder is still checked,
      // so doctor and status report the problem that `medic check` would meet there.
      if (existsSync(dir)) trustFolder(path, dir, opened);
      opened.exists = false;
      return emptyDatabase();
    }
    if (!file) makeFolders(dir, opened.mode & 0o070 ? 0o770 : 0o700);
    trustFolder(path, dir, opened);
    if (!file) {
      createFile(path, opened.mode);
      file = lstatSync(path);
    }
    trustFile(path, file, opened);
    writable(path, opened);
    const db = new Database(path, { readonly: opened.readOnly, fileMustExist: true, timeout: 15_000, nativeBinding: addonPath() });
    try {
      // SQLite opens by name: in a folder others can write (the group set-up), a link could have
      // been swapped in between the checks above and that open. Nothing is written before this.
      if (!holdsOpen(file)) {
        throw new DatabaseError(
          `refusing database ${path}: it changed while Medic opened it (another file or a link was put in its place)`,
          'someone with write access to its folder is tampering with it; keep the database in a folder only the user running medic can write, and use "spool" for job users',
        );
      }
      opened.identity = { dev: file.dev, ino: file.ino };
      // Refuse what is not ours before changing anything (the journal mode rewrites the header).
      const version = refuseForeign(db, path);
      if (opened.readOnly) {
        if (version < SCHEMA_VERSION) opened.olderSchema = version;
        return db;
      }
      enableWal(db);
      db.pragma('synchronous = NORMAL');
      if (version !== SCHEMA_VERSION) migrate(db, path);
    } catch (err) {
      db.close();
      throw err;
    }
    return db;
  });
  return new SqliteStore(db, path, opened);
}

/**
 * Whether this process has the file `st` describes open (by device and inode): after SQLite opened
 * the database by name, it must be the file that was checked. Linux lists a process's open files in
 * /proc/self/fd; where there is no such list, the open cannot be verified and is taken as it is.
 */
export function holdsOpen(st: Stats): boolean {
  let fds: string[];
  try {
    fds = readdirSync('/proc/self/fd');
  } catch {
    return true;
  }
  return fds.some((fd) => {
    try {
      const open = fstatSync(Number(fd));
      return open.dev === st.dev && open.ino === st.ino;
    } catch {
      return false;
    }
  });
}

/**
 * What is at `path` now, when it is not the file `identity` describes: missing, a folder, a link
 * (never followed, as at open), something else, or another file. Null when it is still that file
 * (a hard link to it put back at the path counts as that file).
 */
export function pathProblem(path: string, identity: FileIdentity): string | null {
  let st: Stats | undefined;
  try {
    st = lstatSync(path, { throwIfNoEntry: false });
  } catch (err) {
    return `it cannot be looked up (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  if (!st) return 'nothing is at its path any more (moved, renamed or deleted)';
  if (st.isSymbolicLink()) return 'a symbolic link is at its path now';
  if (st.isDirectory()) return 'a folder is at its path now';
  if (!st.isFile()) return 'something that is not a regular file is at its path now';
  if (st.dev !== identity.dev || st.ino !== identity.ino) return 'another file is at its path now';
  return null;
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * A new file, never through a link (O_EXCL|O_NOFOLLOW: a dangling `medic.db` link must not make
 * root create a file where the link points), then fchmod to exactly `mode` whatever the umask.
 */
function createFile(path: string, mode: number): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  } catch (err) {
    // Another process (a beat at the same moment) made it first: it is checked like any other.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw err;
  }
  try {
    fchmodSync(fd, mode);
  } finally {
    closeSync(fd);
  }
}

/** An empty, current database in memory: what a read-only command sees when there is no file yet. */
function emptyDatabase(): Db {
  const db = new Database(':memory:', { nativeBinding: addonPath() });
  migrate(db, ':memory:');
  db.pragma('query_only = ON');
  return db;
}

const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`;

/**
 * The folder holds the file and SQLite's -wal and -shm beside it: whoever can write it can plant a
 * link or a file there. Trusted: owned by the user or root, not writable by others (nor by its
 * group, except in the group set-up).
 */
function trustFolder(path: string, dir: string, opened: Opened): void {
  const group = (opened.mode & 0o070) !== 0;
  const st = statSync(dir);
  const problem = trustProblem(st, opened.uid, { groupWritable: group, ownGroup: opened.gid });
  if (!problem) return;
  // A shared folder such as /tmp (sticky, everyone writes) or another user's is not ours to chmod:
  // the database moves instead.
  const notOurs = (st.mode & 0o1002) !== 0 || (st.uid !== opened.uid && st.uid !== 0);
  throw new DatabaseError(
    `refusing database ${path}: its folder ${dir} could have been changed by someone else (${problem})`,
    notOurs
      ? 'set "database" (or MEDIC_DB) to a file in a folder of your own that others cannot write, e.g. /var/lib/medic/medic.db when root runs the checker'
      : `keep the database in a folder owned by the user running medic (or root) that others cannot write (chmod ${group ? 2770 : 700} ${dir})` +
          (group ? '' : '; for several users sharing it, set "databaseMode": "0660" and give the folder their group (chgrp <group>, chmod 2770)'),
  );
}

/** The file itself: a regular file, owned by the user or root, not writable by everyone; and no link beside it. */
function trustFile(path: string, file: Stats, opened: Opened): void {
  if (file.isSymbolicLink()) {
    throw new DatabaseError(
      `refusing database ${path}: it is a symbolic link, and Medic never follows a link at the database path`,
      'point "database" (or MEDIC_DB) at the real file, in a folder only the user running medic can write',
    );
  }
  if (!file.isFile()) throw new DatabaseError(`refusing database ${path}: it is not a regular file`, 'point "database" (or MEDIC_DB) at a file');
  // Group write is the group set-up's business (doctor flags a mode wider than the configured one).
  // In that set-up every job user can write the file anyway, so one of them may also own it (the
  // first beat created it before the checker's first run): only write by everyone is refused.
  const group = (opened.mode & 0o070) !== 0;
  const problem = trustProblem(file, group ? file.uid : opened.uid, { groupWritable: true });
  if (problem) {
    throw new DatabaseError(
      `refusing database ${path}: ${problem}`,
      file.uid !== opened.uid && file.uid !== 0
        ? `run medic as the user that owns it, or make the user running medic (uid ${opened.uid}) its owner: chown ${opened.uid} ${path}`
        : `chmod ${octal(opened.mode)} ${path}`,
    );
  }
  for (const sidecar of [`${path}-wal`, `${path}-shm`, `${path}-journal`]) {
    const st = lstatOrNull(sidecar);
    if (st && !st.isFile()) {
      throw new DatabaseError(
        `refusing database ${path}: ${sidecar} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}, which SQLite would follow`,
        `remove ${sidecar} (SQLite makes its own); someone who can write ${dirname(path)} put it there`,
      );
    }
  }
}

/** Says "permission denied" plainly, before SQLite can only say that it cannot open the file. */
function writable(path: string, opened: Opened): void {
  const checks: [string, number][] = opened.readOnly
    ? [[path, constants.R_OK]]
    : [
        [path, constants.R_OK | constants.W_OK],
        // WAL mode creates -wal and -shm files beside the database.
        [dirname(path), constants.W_OK | constants.X_OK],
      ];
  for (const [what, mode] of checks) {
    try {
      accessSync(what, mode);
    } catch (err) {
      throw accessError(path, what, err as NodeJS.ErrnoException, opened);
    }
  }
}

function accessError(path: string, what: string, err: NodeJS.ErrnoException, opened: Opened): DatabaseError {
  if (err.code !== 'EACCES') return databaseError(path, err);
  const verb = opened.readOnly ? 'read' : 'write';
  const group = (opened.mode & 0o070) !== 0;
  return new DatabaseError(
    `cannot ${verb} database ${path}: permission denied (the user running medic, uid ${opened.uid}, cannot ${verb} ${what === path ? 'the file' : `its folder ${what}`})`,
    `run medic as the user that owns the database, or give this user ${verb} access to the file and its folder (SQLite writes -wal and -shm files beside it)` +
      (group ? '; in the group set-up, add the user to the folder\'s group' : '; for several users sharing it, set "databaseMode": "0660" and give them one group'),
  );
}

/**
 * `mkdir -p`, each folder it creates getting exactly `mode` (a setgid bit inherited from the parent
 * stays). Not mkdirSync's `recursive`, which loops forever where a parent cannot be created but does
 * not report EACCES (under /proc, for one).
 */
function makeFolders(dir: string, mode: number): void {
  if (existsSync(dir)) return;
  const parent = dirname(dir);
  if (parent !== dir) makeFolders(parent, mode);
  try {
    mkdirSync(dir, { mode });
  } catch (err) {
    // Another process (a beat at the same moment) made it first.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return;
  }
  chmodSync(dir, mode | (statSync(dir).mode & 0o2000));
}

/**
 * The compiled addon's path, so better-sqlite3 skips the `bindings` package's search of a dozen
 * candidate folders on every start (it is on `medic beat`'s path). Falls back to that search.
 */
function addonPath(): string | undefined {
  try {
    return createRequire(import.meta.url).resolve('better-sqlite3/build/Release/better_sqlite3.node');
  } catch {
    return undefined;
  }
}

function newerSchema(path: string, v: number): DatabaseError {
  return new DatabaseError(
    `database ${path} has schema version ${v}, written by a newer Medic; this Medic knows up to version ${SCHEMA_VERSION}`,
    'upgrade Medic (or point MEDIC_DB / "database" at another file); the database was left untouched',
  );
}

/** A newer Medic's database, or another program's SQLite file, is refused untouched; else its schema version. */
function refuseForeign(db: Db, path: string): number {
  // One statement, so one snapshot: another process may be creating the schema right now.
  const { v, tables } = db
    .prepare("SELECT (SELECT user_version FROM pragma_user_version) AS v, (SELECT group_concat(name, ', ') FROM (SELECT name FROM sqlite_master WHERE type = 'table' LIMIT 5)) AS tables")
    .get() as { v: number; tables: string | null };
  if (v > SCHEMA_VERSION) throw newerSchema(path, v);
  if (v === 0 && tables) {
    throw new DatabaseError(
      `${path} is not a Medic database: it is another program's SQLite file (tables: ${tables})`,
      'point MEDIC_DB or "database" at a new file; Medic did not change this one',
    );
  }
  return v;
}

/**
 * Switches to WAL. SQLite answers SQLITE_BUSY at once (ignoring the busy timeout) when another
 * connection holds a lock while a new file is switched, e.g. two first beats at the same moment,
 * so retry within the same 15 s budget.
 */
function enableWal(db: Db): void {
  const deadline = Date.now() + 15_000;
  while (db.pragma('journal_mode', { simple: true }) !== 'wal') {
    try {
      if (db.pragma('journal_mode = WAL', { simple: true }) === 'wal') return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw err;
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
}

function migrate(db: Db, path: string): void {
  // IMMEDIATE takes the write lock first, and the version is read again under it, so two
  // processes opening a new file migrate it once.
  db.transaction(() => {
    const v = db.pragma('user_version', { simple: true }) as number;
    if (v > SCHEMA_VERSION) throw newerSchema(path, v);
    for (const m of MIGRATIONS) {
      if (m.version <= v) continue;
      db.exec(m.up);
      db.pragma(`user_version = ${m.version}`);
    }
  }).immediate();
}

/** Translates SQLite and file-system failures into a DatabaseError (exit 74) with a next step. */
function guard<T>(path: string, fn: () => T, olderSchema: number | null = null): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof DatabaseError) throw err;
    // A read-only command on a database an older Medic wrote: a table or column it lacks.
    if (olderSchema !== null && (err as { code?: string }).code === 'SQLITE_ERROR') {
      throw new DatabaseError(
        `database ${path} has schema version ${olderSchema}, older than this Medic's (${SCHEMA_VERSION}), and cannot be read as it is`,
        'run `medic check` once to upgrade it (status, history and doctor never change the database)',
      );
    }
    throw databaseError(path, err as Error & { code?: string });
  }
}

/** SQLite reports a full disk as an I/O error when it cannot even create the -shm file. */
function diskFull(path: string): boolean {
  try {
    const fs = statfsSync(dirname(path));
    return fs.bavail * fs.bsize < 64 * 1024;
  } catch {
    return false;
  }
}

export function databaseError(path: string, err: Error & { code?: string }): DatabaseError {
  const code = err.code ?? '';
  const why = `${err.message}${code && !err.message.includes(code) ? ` (${code})` : ''}`;
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new DatabaseError(`${path} is not a Medic database: ${why}`, 'point MEDIC_DB or "database" at the right file, or move this one aside; Medic did not change it');
  }
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || (/^SQLITE_(IOERR|CANTOPEN)/.test(code) && diskFull(path))) {
    return new DatabaseError(`cannot write database ${path}: the disk is full`, 'free space on that file system; nothing was recorded by this command');
  }
  if (code.startsWith('SQLITE_READONLY') || code === 'EACCES' || code === 'EROFS' || code === 'EPERM') {
    return new DatabaseError(
      `cannot write database ${path}: ${code === 'EACCES' ? `permission denied (${why})` : why}`,
      'the user running medic needs write access to the file and its folder (WAL mode writes -wal and -shm files beside it)',
    );
  }
  if (code === 'SQLITE_BUSY') {
    return new DatabaseError(`database ${path} stayed locked for 15s: ${why}`, 'another process holds a long write lock on it; find it with `fuser`');
  }
  return new DatabaseError(`cannot open or write database ${path}: ${why}`, 'check that the path, its folder and the disk are usable');
}

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
  // [jobs] Absent (undefined) in a read-only look at a database before schema 4.
  failure_at?: number | null;
  failure_exit_code?: number | null;
  failure_duration_ms?: number | null;
  failure_message?: string | null;
  failure_output_tail?: string | null;
  run_started_at?: number | null;
  version: number;
}


/**
 * The columns read from services and outbox, those a database of this schema has (a read-only look
 * at an older one lacks some), job text and notes cut in SQL (bounds.ts): a planted huge row is read
 * bounded. Only these names ever reach the SQL, whatever the file's schema says.
 */
const READ_COLUMNS: Record<'services' | 'outbox', Record<string, ((col: string) => string) | null>> = {
  services: {
    slug: null, registered_at: null, last_beat_at: null, beat_seq: null, reset_at: null, incident_id: null, incident_down_at: null, incident_beat_seq: null,
    incident_held_since: null, paused_at: null, paused_until: null, pause_reason: cut.note, failure_at: null, failure_exit_code: null,
    failure_duration_ms: null, failure_message: cut.message, failure_output_tail: cut.tail, run_started_at: null, version: null,
  },
  outbox: {
    id: null, slug: null, incident_id: null, target: null, action: null, dedup_key: null, down_at: null, last_beat_at: null, missed_heartbeats: null,
    reason: cut.note, exit_code: null, duration_ms: null, message: cut.message, output_tail: cut.tail, created_at: null, status: null, attempts: null,
    next_attempt_at: null, last_error: cut.note, refused_at: null, refused_status: null, refused_answer: cut.note, refused_fingerprint: null,
  },
};

export class SqliteStore implements Store {
  private readonly stmts = new Map<string, Database.Statement>();
  private readonly columnLists = new Map<string, string>();
  /** When the path was last found to name the open file (performance.now()); see IDENTITY_RECHECK_MS. */
  private identityCheckedAt = -Infinity;
  /**
   * The write-ahead log's identity, taken the first time it is seen: SQLite keeps `<path>-wal` (same
   * file) while any connection is open, this one included, so it missing or another file there means
   * someone deleted it under a live database (the beats it holds are then in no file a checker reads).
   */
  private walIdentity: FileIdentity | null = null;

  constructor(
    readonly db: Db,
    readonly path: string,
    private readonly opened: Opened = { uid: 0, gid: undefined, mode: DEFAULT_DATABASE_MODE, readOnly: false, exists: true, olderSchema: null },
  ) {}

  /** Statements are prepared once, on first use, so `medic beat` prepares only its own. */
  private sql(text: string): Database.Statement {
    let stmt = this.stmts.get(text);
    if (!stmt) {
      stmt = this.db.prepare(text);
      this.stmts.set(text, stmt);
    }
    return stmt;
  }

  /** What to select from `table` (READ_COLUMNS), found once per store. */
  private columns(table: 'services' | 'outbox'): string {
    let list = this.columnLists.get(table);
    if (list === undefined) {
      const present = new Set((this.db.prepare('SELECT name FROM pragma_table_info(?)').all(table) as { name: string }[]).map((r) => r.name));
      list = Object.entries(READ_COLUMNS[table])
        .filter(([name]) => present.has(name))
        .map(([name, bound]) => (bound ? bound(name) : name))
        .join(', ');
      this.columnLists.set(table, list);
    }
    return list;
  }

  /**
   * Throws a DatabaseMovedError when the path no longer names the file this store has open (checked
   * at most every IDENTITY_RECHECK_MS unless `always`; a failed check is never reused, so putting the
   * file back heals it). Medic never writes into, nor reports from, a file nobody else reads.
   */
  private stillAtPath(always: boolean): void {
    const identity = this.opened.identity;
    if (!identity) return;
    const t = performance.now();
    if (!always && t - this.identityCheckedAt < IDENTITY_RECHECK_MS) return;
    const problem = pathProblem(this.path, identity) ?? this.walProblem();
    if (problem === null) {
      this.identityCheckedAt = t;
      return;
    }
    this.identityCheckedAt = -Infinity;
    throw new DatabaseMovedError(
      `database ${this.path} was moved or replaced while medic had it open: ${problem}; nothing more is recorded in or read from the old file`,
      'put the database file back at its path, or restart medic serve to open what is there now (a long-running medic keeps the file it opened)',
    );
  }

  /** Why `<path>-wal` is no longer the write-ahead log this connection uses, or null (also before it is first seen). */
  private walProblem(): string | null {
    const wal = `${this.path}-wal`;
    if (this.walIdentity === null) {
      const st = lstatOrNull(wal);
      if (st?.isFile()) this.walIdentity = { dev: st.dev, ino: st.ino };
      return null;
    }
    const problem = pathProblem(wal, this.walIdentity);
    return problem && `its write-ahead log ${wal}: ${problem}`;
  }

  private run<T>(fn: () => T, checkPath: 'always' | 'throttled' = 'throttled'): Promise<T> {
    try {
      this.stillAtPath(checkPath === 'always');
      return Promise.resolve(guard(this.path, fn, this.opened.olderSchema));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  recordBeat(slug: string, at: number, signal?: { kind: SignalKind } & SignalDetails): Promise<void> {
    return this.recordBeats([{ slug, at, kind: signal?.kind, details: signal }]);
  }

  recordBeats(beats: BeatInput[]): Promise<void> {
    return this.run(() =>
      this.db
        .transaction(() => {
          for (const b of beats) this.writeBeat(b, b.at ?? Date.now());
        })
        .immediate(),
      'always',
    );
  }

  clock(): Promise<number | null> {
    return Promise.resolve(null);
  }

  private writeBeat(b: BeatInput, at: number): void {
    const { slug } = b;
    const kind = b.kind ?? 'ok';
    if (kind === 'log') {
      this.sql('INSERT INTO logs (slug, at, message) VALUES (?, ?, ?)').run(slug, at, boundDetails(b.details).message ?? '');
      return;
    }
    const runId = boundRunId(b.runId);
    let details = b.details;
    if (runId !== null && kind !== 'start' && details?.durationMs == null) {
      const start = this.sql("SELECT at FROM beats WHERE slug = ? AND run_id = ? AND kind = 'start' ORDER BY id DESC LIMIT 1").get(slug, runId) as
        | { at: number }
        | undefined;
      if (start && at >= start.at) details = { ...details, durationMs: at - start.at };
    }
    const d = boundDetails(details);
    this.sql('INSERT INTO beats (slug, at, kind, exit_code, duration_ms, message, output_tail, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
      slug,
      at,
      kind,
      d.exitCode,
      d.durationMs,
      d.message,
      d.outputTail,
      runId,
    );
    if (kind === 'ok') {
      // A success: the service is fine again, whatever failed or started before.
      this.sql(
        `INSERT INTO services (slug, registered_at, last_beat_at, beat_seq) VALUES (?, ?, ?, 1)
         ON CONFLICT (slug) DO UPDATE SET last_beat_at = excluded.last_beat_at, beat_seq = beat_seq + 1,
         failure_at = NULL, failure_exit_code = NULL, failure_duration_ms = NULL, failure_message = NULL, failure_output_tail = NULL,
         run_started_at = NULL`,
      ).run(slug, at, at);
    } else if (kind === 'start') {
      // The earliest start that no end followed stays: a job that starts every night and never
      // ends is not kept "up" by each new start (a start is not a success, SPEC §3 [jobs]).
      this.sql(
        `INSERT INTO services (slug, registered_at, run_started_at) VALUES (?, ?, ?)
         ON CONFLICT (slug) DO UPDATE SET run_started_at = coalesce(run_started_at, excluded.run_started_at)`,
      ).run(slug, at, at);
    } else {
      // The service keeps its own copy: the beat it came from is pruned by age.
      this.sql(
        `INSERT INTO services (slug, registered_at, failure_at, failure_exit_code, failure_duration_ms, failure_message, failure_output_tail)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (slug) DO UPDATE SET failure_at = excluded.failure_at, failure_exit_code = excluded.failure_exit_code,
         failure_duration_ms = excluded.failure_duration_ms, failure_message = excluded.failure_message,
         failure_output_tail = excluded.failure_output_tail, run_started_at = NULL`,
      ).run(slug, at, at, d.exitCode, d.durationMs, d.message, d.outputTail);
    }
  }

  register(slugs: string[], at: number): Promise<void> {
    return this.run(() =>
      this.db
        .transaction(() => {
          const insert = this.sql('INSERT INTO services (slug, registered_at) VALUES (?, ?) ON CONFLICT (slug) DO NOTHING');
          for (const slug of slugs) insert.run(slug, at);
        })
        .immediate(),
    );
  }

  forget(slugs: string[]): Promise<void> {
    return this.run(() =>
      this.db
        .transaction(() => {
          const drop = this.sql('DELETE FROM services WHERE slug = ? AND incident_id IS NULL');
          for (const slug of slugs) drop.run(slug);
        })
        .immediate(),
    );
  }

  services(): Promise<StoredService[]> {
    return this.run(() =>
      (this.sql(`SELECT ${this.columns('services')} FROM services`).all() as ServiceRow[]).map((r) => ({
        slug: r.slug,
        registeredAt: r.registered_at,
        lastBeatAt: r.last_beat_at,
        beatSeq: r.beat_seq,
        resetAt: r.reset_at,
        // `!= null`: a read-only look at a version 1 database has no pause or flap columns.
        pause: r.paused_at != null ? { since: r.paused_at, until: r.paused_until ?? null, reason: readNote(r.pause_reason ?? null) } : null,
        incident:
          r.incident_down_at !== null
            ? { downAt: r.incident_down_at, beatSeq: r.incident_beat_seq ?? 0, heldSince: r.incident_held_since ?? null }
            : null,
        failure:
          r.failure_at != null
            ? {
                kind: 'fail' as const,
                at: r.failure_at,
                exitCode: readInteger(r.failure_exit_code),
                durationMs: readInteger(r.failure_duration_ms),
                message: readMessage(r.failure_message),
                outputTail: readTail(r.failure_output_tail),
              }
            : null,
        runStartedAt: r.run_started_at ?? null,
        incidentId: r.incident_id,
        version: r.version,
      })),
    );
  }

  applyTransitions(changes: TransitionInput[], now: number): Promise<string[]> {
    return this.run(() =>
      this.db
        .transaction(() => {
          const applied: string[] = [];
          for (const c of changes) {
            const transition = this.sql(
              'INSERT INTO transitions (slug, from_state, to_state, at, recorded_at, reason) VALUES (?, ?, ?, ?, ?, ?)',
            ).run(c.slug, c.from, c.to, c.at, now, c.reason);
            const transitionId = Number(transition.lastInsertRowid);
            const changed = this.changeService(c, transitionId);
            if (changed.changes === 0) {
              // Someone else changed it first (compare-and-set): drop this change and its record.
              this.sql('DELETE FROM transitions WHERE id = ?').run(transitionId);
              continue;
            }
            applied.push(c.slug);
            if (c.events === 'resolve-sent-triggers') {
              if (c.to === 'up') this.enqueueResolves(c.incidentId!, now);
            } else {
              const insert = this.sql(
                `INSERT INTO outbox (slug, incident_id, target, action, dedup_key, down_at, last_beat_at, missed_heartbeats,
                 reason, exit_code, duration_ms, message, output_tail, created_at, next_attempt_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
              );
              for (const e of c.events) {
                const f = e.facts;
                const d = boundDetails(f ?? undefined);
                insert.run(
                  c.slug,
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
                  d.message,
                  d.outputTail,
                  now,
                  now,
                );
              }
            }
          }
          return applied;
        })
        .immediate(),
    );
  }

  private changeService(c: TransitionInput, transitionId: number): Database.RunResult {
    const where = 'WHERE slug = ? AND version = ? AND incident_id IS';
    switch (c.to) {
      case 'down':
        return this.sql(
          `UPDATE services SET incident_id = ?, incident_down_at = ?, incident_beat_seq = ?, incident_held_since = NULL,
           version = version + 1 ${where} NULL`,
        ).run(transitionId, c.at, c.beatSeq, c.slug, c.version);
      case 'up':
        return this.sql(
          `UPDATE services SET incident_id = NULL, incident_down_at = NULL, incident_beat_seq = NULL, incident_held_since = NULL,
           version = version + 1 ${where} NOT NULL`,
        ).run(c.slug, c.version);
      case 'flapping':
      case 'relapse':
        return this.sql(`UPDATE services SET incident_held_since = ?, incident_beat_seq = ?, version = version + 1 ${where} NOT NULL`).run(
          c.to === 'flapping' ? c.at : null,
          c.beatSeq,
          c.slug,
          c.version,
        );
    }
  }

  /** A resolve goes to exactly the targets (by name) the open incident's triggers went to. */
  private enqueueResolves(incidentId: number, now: number): void {
    this.sql(
      `INSERT INTO outbox (slug, incident_id, target, action, dedup_key, created_at, next_attempt_at)
       SELECT slug, incident_id, target, 'resolve', dedup_key, ?, ?
       FROM outbox
       WHERE action = 'trigger' AND incident_id = ?
       ORDER BY id`,
    ).run(now, now, incidentId);
  }

  pendingEvents(): Promise<OutboxEvent[]> {
    return this.run(() => (this.sql(`SELECT ${this.columns('outbox')} FROM outbox WHERE status = 'pending' ORDER BY id`).all() as OutboxRow[]).map(outboxEvent));
  }

  claimEvents(owner: string, now: number, leaseMs: number, batch?: ClaimBatch): Promise<OutboxEvent[]> {
    return this.run(() => {
      // A batch: after its cursor, at most `limit`, of the services asked for (or of all the others).
      const services = batch?.services ? ` AND ${batch.services.only ? '' : 'NOT '}slug IN (SELECT value FROM json_each(?))` : '';
      const page = batch ? `SELECT id FROM outbox WHERE status = 'pending' AND id > ?${services} ORDER BY id LIMIT ?` : null;
      const params: unknown[] = [owner, now + leaseMs, owner, now, now + 2 * leaseMs];
      if (batch) params.push(batch.afterId, ...(batch.services ? [JSON.stringify(batch.services.slugs)] : []), batch.limit);
      return (
        this.sql(
          `UPDATE outbox SET claimed_by = ?, claimed_until = ?
           WHERE status = 'pending' AND (claimed_by IS NULL OR claimed_by = ? OR claimed_until <= ? OR claimed_until > ?)${page ? ` AND id IN (${page})` : ''}
           RETURNING ${this.columns('outbox')}`,
        ).all(...params) as OutboxRow[]
      )
        .sort((a, b) => a.id - b.id)
        .map(outboxEvent);
    });
  }

  holdsClaim(id: number, owner: string, now: number): Promise<boolean> {
    return this.run(() => this.sql("SELECT 1 FROM outbox WHERE id = ? AND status = 'pending' AND claimed_by = ? AND claimed_until > ?").get(id, owner, now) !== undefined);
  }

  triggerOf(slug: string, incidentId: number, target: string): Promise<TriggerRecord | null> {
    return this.run(() => {
      const row = this.sql(
        `SELECT status, down_at, substr(receipt, 1, ${RECEIPT_MAX_CHARS}) AS receipt FROM outbox
         WHERE slug = ? AND incident_id = ? AND target = ? AND action = 'trigger' ORDER BY id DESC LIMIT 1`,
      ).get(slug, incidentId, target) as { status: EventStatus; down_at: number | null; receipt: unknown } | undefined;
      if (!row) return null;
      return { status: row.status, downAt: typeof row.down_at === 'number' ? row.down_at : null, receipt: typeof row.receipt === 'string' ? row.receipt : null };
    });
  }

  private logDelivery(id: number, outcome: string, detail: string | null, now: number): void {
    this.sql(
      `INSERT INTO deliveries (outbox_id, slug, target, action, at, outcome, detail)
       SELECT id, slug, target, action, ?, ?, ? FROM outbox WHERE id = ? AND status = 'pending'`,
    ).run(now, outcome, detail, id);
  }

  noteAttempt(id: number, error: string, now: number): Promise<void> {
    return this.run(() => this.logDelivery(id, 'retry', error, now));
  }

  settle(id: number, outcome: Settlement, now: number): Promise<void> {
    // The log row and the outbox update go together, or a kill between them would log a delivery
    // for an event that is still pending.
    return this.run(() => this.settleTx(id, outcome, now));
  }

  reroute(id: number, targets: string[], reason: string, now: number): Promise<number> {
    return this.run(() =>
      this.db
        .transaction(() => {
          const copy = this.sql(
            `INSERT INTO outbox (slug, incident_id, target, action, dedup_key, down_at, last_beat_at, missed_heartbeats,
             reason, exit_code, duration_ms, message, output_tail, created_at, next_attempt_at)
             SELECT slug, incident_id, ?, 'trigger', dedup_key, down_at, last_beat_at, missed_heartbeats,
             reason, exit_code, duration_ms, message, output_tail, ?, ?
             FROM outbox o WHERE id = ? AND action = 'trigger' AND status = 'pending'
             AND NOT EXISTS (SELECT 1 FROM outbox x WHERE x.slug = o.slug AND x.incident_id = o.incident_id AND x.target = ? AND x.action = 'trigger')`,
          );
          let queued = 0;
          for (const target of targets) queued += copy.run(target, now, now, id, target).changes;
          this.settleTx(id, { status: 'skipped', error: reason }, now);
          return queued;
        })
        .immediate(),
    );
  }

  private readonly settleTx = (id: number, outcome: Settlement, now: number) =>
    this.db.transaction(() => {
      // The delivery log keeps the outcome names history has always shown: a refusal is 'rejected' there.
      this.logDelivery(id, outcome.status === 'refused' ? 'rejected' : outcome.status, outcome.status === 'delivered' ? outcome.response : outcome.error, now);
      if (outcome.status === 'retry') {
        this.sql(
          `UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?,
           refused_at = NULL, refused_status = NULL, refused_answer = NULL, refused_fingerprint = NULL, claimed_by = NULL, claimed_until = NULL
           WHERE id = ? AND status = 'pending'`,
        ).run(outcome.error, outcome.nextAttemptAt, id);
      } else if (outcome.status === 'refused') {
        // Stays pending: sent again once the target's URL or key changes (a different fingerprint).
        this.sql(
          `UPDATE outbox SET last_error = ?, refused_at = ?, refused_status = ?, refused_answer = ?, refused_fingerprint = ?,
           claimed_by = NULL, claimed_until = NULL
           WHERE id = ? AND status = 'pending'`,
        ).run(outcome.error, now, outcome.httpStatus, outcome.answer, outcome.fingerprint, id);
      } else {
        this.sql(
          "UPDATE outbox SET status = ?, attempts = attempts + ?, last_error = ?, response = ?, receipt = ?, settled_at = ?, claimed_by = NULL, claimed_until = NULL WHERE id = ? AND status = 'pending'",
        ).run(
          outcome.status,
          outcome.status === 'skipped' ? 0 : 1,
          outcome.status === 'delivered' ? null : outcome.error,
          outcome.status === 'skipped' ? null : outcome.response,
          outcome.status === 'delivered' ? (outcome.receipt ?? null) : null,
          now,
          id,
        );
      }
    })();

  pendingCounts(): Promise<Map<string, number>> {
    return this.run(() => {
      const rows = this.sql("SELECT slug, count(*) AS n FROM outbox WHERE status = 'pending' GROUP BY slug").all() as { slug: string; n: number }[];
      return new Map(rows.map((r) => [r.slug, r.n]));
    });
  }

  targetDeliveries(targets: string[]): Promise<Map<string, { pending: number; refused: number }>> {
    return this.run(() => {
      const rows = this.sql(
        `SELECT target, count(*) AS pending, count(refused_at) AS refused FROM outbox
         WHERE status = 'pending' AND target IN (SELECT value FROM json_each(?)) GROUP BY target`,
      ).all(JSON.stringify(targets)) as { target: string; pending: number; refused: number }[];
      return new Map(rows.map((r) => [r.target, { pending: r.pending, refused: r.refused }]));
    });
  }

  deliveryStates(): Promise<Map<string, ServiceDelivery>> {
    return this.run(() => {
      const states = new Map<string, ServiceDelivery>();
      const state = (slug: string) => {
        let s = states.get(slug);
        if (!s) states.set(slug, (s = { pending: 0, refusedCount: 0, refused: null, lastError: null, openIncident: null }));
        return s;
      };
      type Row = Pick<OutboxRow, 'slug' | 'target' | 'action' | 'last_error' | 'refused_at' | 'refused_status' | 'refused_answer' | 'refused_fingerprint'>;
      const pending = this.sql(
        `SELECT slug, target, action, ${cut.note('last_error')}, refused_at, refused_status, ${cut.note('refused_answer')}, refused_fingerprint FROM outbox WHERE status = 'pending' ORDER BY id`,
      ).all() as Row[];
      for (const r of pending) {
        const s = state(r.slug);
        s.pending++;
        const refusal = refusalOf(r);
        if (refusal) s.refusedCount++;
        if (refusal && !s.refused) s.refused = { target: r.target, action: r.action as Action, refusal };
        if (r.last_error !== null && !s.lastError) s.lastError = { target: r.target, action: r.action as Action, error: readNote(r.last_error) };
      }
      const open = this.sql(
        `SELECT s.slug, sum(o.status = 'delivered') AS delivered, sum(o.status IN ('skipped', 'rejected')) AS dropped
         FROM services s JOIN outbox o ON o.incident_id = s.incident_id AND o.action = 'trigger'
         GROUP BY s.slug`,
      ).all() as { slug: string; delivered: number; dropped: number }[];
      for (const r of open) state(r.slug).openIncident = { delivered: r.delivered, dropped: r.dropped };
      return states;
    });
  }

  recentTriggers(since: number): Promise<Map<string, number>> {
    return this.run(() => {
      const rows = this.sql("SELECT slug, count(*) AS n FROM transitions WHERE to_state IN ('down', 'relapse') AND at >= ? GROUP BY slug").all(since) as {
        slug: string;
        n: number;
      }[];
      return new Map(rows.map((r) => [r.slug, r.n]));
    });
  }

  pause(slugs: string[], now: number, until: number | null, reason: string | null, record: string): Promise<string[]> {
    return this.run(() =>
      this.db
        .transaction(() => {
          const register = this.sql('INSERT INTO services (slug, registered_at) VALUES (?, ?) ON CONFLICT (slug) DO NOTHING');
          const update = this.sql('UPDATE services SET paused_at = ?, paused_until = ?, pause_reason = ?, version = version + 1 WHERE slug = ?');
          const insert = this.sql("INSERT INTO transitions (slug, from_state, to_state, at, recorded_at, reason, until_at) VALUES (?, '', 'paused', ?, ?, ?, ?)");
          for (const slug of slugs) {
            register.run(slug, now);
            update.run(now, until, reason, slug);
            insert.run(slug, now, now, record, until);
          }
          return slugs;
        })
        .immediate(),
    );
  }

  resume(slugs: string[], now: number): Promise<string[]> {
    return this.run(() =>
      this.db
        .transaction(() => {
          const resumed: string[] = [];
          const update = this.sql(
            `UPDATE services SET paused_at = NULL, paused_until = NULL, pause_reason = NULL, reset_at = ?, version = version + 1
             WHERE slug = ? AND paused_at IS NOT NULL AND (paused_until IS NULL OR paused_until > ?)`,
          );
          const record = this.sql(
            "INSERT INTO transitions (slug, from_state, to_state, at, recorded_at, reason) VALUES (?, 'paused', 'resumed', ?, ?, 'resumed')",
          );
          for (const slug of slugs) {
            if (update.run(now, slug, now).changes === 1) {
              record.run(slug, now, now);
              resumed.push(slug);
            }
          }
          return resumed;
        })
        .immediate(),
    );
  }

  recordGap(slugs: string[], from: number, to: number, record: string): Promise<void> {
    return this.run(() =>
      this.db
        .transaction(() => {
          const reset = this.sql('UPDATE services SET reset_at = ?, version = version + 1 WHERE slug = ?');
          const insert = this.sql("INSERT INTO transitions (slug, from_state, to_state, at, recorded_at, reason) VALUES (?, '', 'unknown', ?, ?, ?)");
          for (const slug of slugs) {
            reset.run(to, slug);
            insert.run(slug, to, to, record);
          }
          this.sql('UPDATE checker SET blind_from = ?, blind_to = ? WHERE id = 1').run(from, to);
        })
        .immediate(),
    );
  }

  capFutureBeats(now: number): Promise<string[]> {
    return this.run(() =>
      (this.sql('UPDATE services SET last_beat_at = ?, version = version + 1 WHERE last_beat_at > ? RETURNING slug').all(now, now) as { slug: string }[]).map(
        (r) => r.slug,
      ),
    );
  }

  lastGap(): Promise<{ from: number; to: number } | null> {
    return this.run(() => {
      const row = this.sql('SELECT blind_from, blind_to FROM checker WHERE id = 1').get() as { blind_from: number | null; blind_to: number | null };
      return row.blind_from !== null && row.blind_to !== null ? { from: row.blind_from, to: row.blind_to } : null;
    });
  }

  prune(beatsBefore: number, recordsBefore: number): Promise<number> {
    return this.run(() => {
      // Small batches, each its own short transaction, so beats arriving meanwhile never wait long;
      // at most PRUNE_BATCHES of them per call, so one run stays quick (the next run goes on).
      const batches = [
        this.sql('DELETE FROM beats WHERE id IN (SELECT id FROM beats WHERE at < ? LIMIT 1000)'),
        this.sql('DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE at < ? LIMIT 1000)'),
        this.sql('DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE at < ? LIMIT 1000)'),
        this.sql(
          `DELETE FROM transitions WHERE id IN (SELECT id FROM transitions WHERE at < ? AND id NOT IN
           (SELECT incident_id FROM services WHERE incident_id IS NOT NULL) LIMIT 1000)`,
        ),
        this.sql("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE status <> 'pending' AND created_at < ? LIMIT 1000)"),
      ];
      let deleted = 0;
      let left = PRUNE_BATCHES;
      for (const [i, stmt] of batches.entries()) {
        const before = i <= 1 ? beatsBefore : recordsBefore;
        while (left-- > 0) {
          const n = stmt.run(before).changes;
          deleted += n;
          if (n < 1000) break;
        }
      }
      return deleted;
    });
  }

  history(slug: string, since: number, until: number): Promise<History> {
    return this.run(() => {
      // A read-only look at a database before schema 4: every beat was a success, no signal, no pause's end.
      const signals = (this.opened.olderSchema ?? SCHEMA_VERSION) >= 4;
      return {
        beats: (
          this.sql(`SELECT at FROM beats WHERE slug = ? AND at >= ? AND at <= ?${signals ? " AND kind = 'ok'" : ''} ORDER BY at`).all(slug, since, until) as {
            at: number;
          }[]
        ).map((r) => r.at),
        signals: signals ? this.signals(slug, since, until) : [],
        logs:
          (this.opened.olderSchema ?? SCHEMA_VERSION) >= 5
            ? (this.sql(`SELECT at, ${cut.message('message')} FROM logs WHERE slug = ? AND at >= ? AND at <= ? ORDER BY at, id`).all(slug, since, until) as History['logs']).map(
                (r) => ({ at: r.at, message: readMessage(r.message) ?? '' }),
              )
            : [],
        pauses: this.pauses(slug, since, until, signals),
        resets: (
          this.sql(
            `SELECT at FROM transitions WHERE slug = ? AND at >= ? AND at <= ? AND (to_state = 'resumed' OR (from_state = '' AND to_state = 'unknown'))
             ORDER BY at, id`,
          ).all(slug, since, until) as { at: number }[]
        ).map((r) => r.at),
        transitions: (
          this.sql(`SELECT at, recorded_at, from_state, to_state, ${cut.note('reason')} FROM transitions WHERE slug = ? AND at >= ? AND at <= ? ORDER BY at, id`).all(
            slug,
            since,
            until,
          ) as { at: number; recorded_at: number; from_state: string; to_state: string; reason: string }[]
        ).map((r) => ({ at: r.at, recordedAt: r.recorded_at, from: r.from_state, to: r.to_state, reason: readNote(r.reason) })),
        deliveries: (
          this.sql(`SELECT at, target, action, outcome, ${cut.note('detail')} FROM deliveries WHERE slug = ? AND at >= ? AND at <= ? ORDER BY at, id`).all(
            slug,
            since,
            until,
          ) as History['deliveries']
        ).map((d) => ({ ...d, detail: readNote(d.detail) })),
      };
    });
  }

  /** Starts, failures, and successes that carry details, oldest first. */
  private signals(slug: string, since: number, until: number): Signal[] {
    const rows = this.sql(
      `SELECT kind, at, exit_code, duration_ms, ${cut.message('message')}, ${cut.tail('output_tail')} FROM beats
       WHERE slug = ? AND at >= ? AND at <= ?
       AND (kind <> 'ok' OR exit_code IS NOT NULL OR duration_ms IS NOT NULL OR message IS NOT NULL OR output_tail IS NOT NULL)
       ORDER BY at, id`,
    ).all(slug, since, until) as { kind: SignalKind; at: number; exit_code: number | null; duration_ms: number | null; message: string | null; output_tail: string | null }[];
    return rows.map((r) => ({ kind: r.kind, at: r.at, exitCode: readInteger(r.exit_code), durationMs: readInteger(r.duration_ms), message: readMessage(r.message), outputTail: readTail(r.output_tail) }));
  }

  /**
   * Pauses that overlap [since, until]: each pause record with its own end, and `endedAt` when a
   * resume or a later pause (which replaces it) ended it first. The running pause comes from the
   * service itself when its record was pruned.
   */
  private pauses(slug: string, since: number, until: number, withEnd: boolean): History['pauses'] {
    const records = this.sql(
      `SELECT to_state, at, ${withEnd ? 'until_at' : 'NULL AS until_at'} FROM transitions WHERE slug = ? AND to_state IN ('paused', 'resumed') AND at <= ? ORDER BY at, id`,
    ).all(slug, until) as { to_state: string; at: number; until_at: number | null }[];
    const live = this.sql(`SELECT ${this.columns('services')} FROM services WHERE slug = ?`).get(slug) as { paused_at?: number | null; paused_until?: number | null } | undefined;
    return pausesFrom(records, live, since, until);
  }

  acquireLock(owner: string, now: number, leaseMs: number, takeOverFrom?: string): Promise<{ acquired: boolean; holder: string | null }> {
    return this.run(() =>
      this.db
        .transaction(() => {
          const taken = this.sql(
            // A lease ending far later than a lease taken now would (more than a whole lease beyond
            // it, so clocks a little apart never count) is not one a checker took: the clock stepped
            // back, or a database writer planted it. It counts as run out.
            // A holder renewing its own lease (migrate) keeps the moment it took it.
            `UPDATE checker SET owner = ?, lease_until = ?, locked_at = CASE WHEN owner IS ? THEN locked_at ELSE ? END
             WHERE id = 1 AND (owner IS NULL OR lease_until <= ? OR lease_until > ? OR owner = ?)`,
          ).run(owner, now + leaseMs, owner, now, now, now + 2 * leaseMs, takeOverFrom ?? null);
          if (taken.changes === 1) {
            // Taken over from a checker known to be gone: its claims on events go with its lease.
            if (takeOverFrom !== undefined) this.sql("UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ? AND status = 'pending'").run(takeOverFrom);
            return { acquired: true, holder: owner };
          }
          const row = this.sql('SELECT substr(owner, 1, 200) AS owner FROM checker WHERE id = 1').get() as { owner: string | null };
          return { acquired: false, holder: row.owner };
        })
        .immediate(),
    );
  }

  noteCheckAttempt(at: number): Promise<void> {
    return this.run(() => {
      this.sql('UPDATE checker SET last_run_at = ?, last_run_started_at = NULL WHERE id = 1 AND (last_run_at IS NULL OR last_run_at < ?)').run(at, at);
    });
  }

  releaseLock(owner: string, lastRunAt: number): Promise<void> {
    return this.run(() =>
      this.db
        .transaction(() => {
          this.sql(
            'UPDATE checker SET owner = NULL, lease_until = NULL, last_run_at = ?, last_run_by = owner, last_run_started_at = locked_at, locked_at = NULL WHERE id = 1 AND owner = ?',
          ).run(lastRunAt, owner);
          this.sql("UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ? AND status = 'pending'").run(owner);
        })
        .immediate(),
    );
  }

  lastChecker(): Promise<string | null> {
    return this.run(() => {
      if ((this.opened.olderSchema ?? SCHEMA_VERSION) < 5) return null;
      return (this.sql('SELECT substr(last_run_by, 1, 200) AS last_run_by FROM checker WHERE id = 1').get() as { last_run_by: string | null }).last_run_by;
    });
  }

  lastCheckAt(): Promise<number | null> {
    return this.run(() => (this.sql('SELECT last_run_at FROM checker WHERE id = 1').get() as { last_run_at: number | null }).last_run_at);
  }

  lastCheckDurationMs(): Promise<number | null> {
    return this.run(() => {
      if ((this.opened.olderSchema ?? SCHEMA_VERSION) < 7) return null;
      const row = this.sql('SELECT last_run_at, last_run_started_at FROM checker WHERE id = 1').get() as { last_run_at: number | null; last_run_started_at: number | null };
      return durationOf(row.last_run_started_at, row.last_run_at);
    });
  }

  schemaVersion(): Promise<number> {
    return this.run(() => this.db.pragma('user_version', { simple: true }) as number);
  }

  async probe(): Promise<StoreProbe> {
    const { path, opened } = this;
    if (!opened.exists) return guard(path, () => creatable(path, opened));
    return this.run(() => {
      // A file moved away still takes writes through the open connection: what matters is the path.
      writable(path, { ...opened, readOnly: false });
      // A write in a transaction that is rolled back needs SQLite's write lock and a writable file,
      // folder (-wal, -shm) and disk, as `medic check` does, and leaves no trace. A read-only store
      // asks through a connection of its own.
      const db = opened.readOnly ? new Database(path, { fileMustExist: true, timeout: 15_000, nativeBinding: addonPath() }) : this.db;
      try {
        db.exec('BEGIN IMMEDIATE');
        try {
          db.exec('CREATE TABLE medic_write_probe (x INTEGER)');
        } finally {
          db.exec('ROLLBACK');
        }
      } finally {
        if (db !== this.db) db.close();
      }
      return { exists: true };
    }, 'always');
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

/** At most this many batches of 1000 rows per prune() call. */
const PRUNE_BATCHES = 50;

/** For a database that does not exist yet: could this process create it (its nearest existing folder writable)? */
function creatable(path: string, opened: Opened): StoreProbe {
  let dir = dirname(path);
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw accessError(path, dir, err as NodeJS.ErrnoException, { ...opened, readOnly: false });
  }
  return { exists: false };
}
