import Database from 'better-sqlite3';
import { closeSync, existsSync, mkdirSync, openSync, statfsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { DatabaseError } from '../errors.js';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.js';
import type { Action, EventStatus, History, OutboxEvent, Refusal, ServiceDelivery, Settlement, Store, StoredService, TransitionInput } from './types.js';

type Db = Database.Database;

/**
 * Opens (creating if needed: folder 0700, file 0600) and migrates the database.
 * WAL plus a generous busy timeout lets many `medic beat` processes and a `medic check` write at once.
 */
export function openSqliteStore(path: string): SqliteStore {
  const db = guard(path, () => {
    if (!existsSync(path)) {
      makeFolders(dirname(path));
      try {
        closeSync(openSync(path, 'wx', 0o600));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    const db = new Database(path, { timeout: 15_000, nativeBinding: addonPath() });
    try {
      // Refuse what is not ours before changing anything (the journal mode rewrites the header).
      const version = refuseForeign(db, path);
      enableWal(db);
      db.pragma('synchronous = NORMAL');
      if (version !== SCHEMA_VERSION) migrate(db, path);
    } catch (err) {
      db.close();
      throw err;
    }
    return db;
  });
  return new SqliteStore(db, path);
}

/**
 * `mkdir -p` with mode 0700 for each folder it creates. Not mkdirSync's `recursive`, which loops
 * forever where a parent cannot be created but does not report EACCES (under /proc, for one).
 */
function makeFolders(dir: string): void {
  if (existsSync(dir)) return;
  const parent = dirname(dir);
  if (parent !== dir) makeFolders(parent);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    // Another process (a beat at the same moment) made it first.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
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
function guard<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof DatabaseError) throw err;
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
      `cannot write database ${path}: ${why}`,
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
  version: number;
}

interface OutboxRow {
  id: number;
  slug: string;
  incident_id: number;
  target: string;
  action: 'trigger' | 'resolve';
  dedup_key: string;
  down_at: number | null;
  last_beat_at: number | null;
  missed_heartbeats: number | null;
  created_at: number;
  status: EventStatus;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  refused_at: number | null;
  refused_status: number | null;
  refused_answer: string | null;
  refused_fingerprint: string | null;
}

/** A refusal as stored (the columns are set together), or null. */
function refusalOf(r: Pick<OutboxRow, 'refused_at' | 'refused_status' | 'refused_answer' | 'refused_fingerprint'>): Refusal | null {
  return r.refused_at === null ? null : { at: r.refused_at, status: r.refused_status, answer: r.refused_answer ?? '', fingerprint: r.refused_fingerprint };
}

export class SqliteStore implements Store {
  private readonly stmts = new Map<string, Database.Statement>();

  constructor(
    readonly db: Db,
    readonly path: string,
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

  private run<T>(fn: () => T): Promise<T> {
    try {
      return Promise.resolve(guard(this.path, fn));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  recordBeat(slug: string, at: number): Promise<void> {
    return this.run(() =>
      this.db
        .transaction(() => {
          this.sql('INSERT INTO beats (slug, at) VALUES (?, ?)').run(slug, at);
          this.sql(
            `INSERT INTO services (slug, registered_at, last_beat_at, beat_seq) VALUES (?, ?, ?, 1)
             ON CONFLICT (slug) DO UPDATE SET last_beat_at = excluded.last_beat_at, beat_seq = beat_seq + 1`,
          ).run(slug, at, at);
        })
        .immediate(),
    );
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
      (this.sql('SELECT * FROM services').all() as ServiceRow[]).map((r) => ({
        slug: r.slug,
        registeredAt: r.registered_at,
        lastBeatAt: r.last_beat_at,
        beatSeq: r.beat_seq,
        resetAt: r.reset_at,
        pause: r.paused_at !== null ? { since: r.paused_at, until: r.paused_until, reason: r.pause_reason } : null,
        incident:
          r.incident_down_at !== null
            ? { downAt: r.incident_down_at, beatSeq: r.incident_beat_seq ?? 0, heldSince: r.incident_held_since }
            : null,
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
                `INSERT INTO outbox (slug, incident_id, target, action, dedup_key, down_at, last_beat_at, missed_heartbeats, created_at, next_attempt_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
              );
              for (const e of c.events) {
                const f = e.facts;
                insert.run(c.slug, transitionId, e.target, e.action, e.dedupKey, f?.downAt ?? null, f?.lastBeatAt ?? null, f?.missedHeartbeats ?? null, now, now);
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
    return this.run(() =>
      (this.sql("SELECT * FROM outbox WHERE status = 'pending' ORDER BY id").all() as OutboxRow[]).map((r) => ({
        id: r.id,
        slug: r.slug,
        incidentId: r.incident_id,
        target: r.target,
        action: r.action,
        dedupKey: r.dedup_key,
        // As stored: src/notify validates them before building anything from them.
        facts: r.action === 'trigger' ? { downAt: r.down_at as number, lastBeatAt: r.last_beat_at, missedHeartbeats: r.missed_heartbeats as number } : null,
        createdAt: r.created_at,
        status: r.status,
        attempts: r.attempts,
        nextAttemptAt: r.next_attempt_at,
        lastError: r.last_error,
        refusal: refusalOf(r),
      })),
    );
  }

  triggerStatus(incidentId: number, target: string): Promise<EventStatus | null> {
    return this.run(() => {
      const row = this.sql("SELECT status FROM outbox WHERE incident_id = ? AND target = ? AND action = 'trigger' ORDER BY id DESC LIMIT 1").get(
        incidentId,
        target,
      ) as { status: EventStatus } | undefined;
      return row?.status ?? null;
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

  private readonly settleTx = (id: number, outcome: Settlement, now: number) =>
    this.db.transaction(() => {
      // The delivery log keeps the outcome names history has always shown: a refusal is 'rejected' there.
      this.logDelivery(id, outcome.status === 'refused' ? 'rejected' : outcome.status, outcome.status === 'delivered' ? outcome.response : outcome.error, now);
      if (outcome.status === 'retry') {
        this.sql(
          `UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?,
           refused_at = NULL, refused_status = NULL, refused_answer = NULL, refused_fingerprint = NULL
           WHERE id = ? AND status = 'pending'`,
        ).run(outcome.error, outcome.nextAttemptAt, id);
      } else if (outcome.status === 'refused') {
        // Stays pending: sent again once the target's URL or key changes (a different fingerprint).
        this.sql(
          `UPDATE outbox SET last_error = ?, refused_at = ?, refused_status = ?, refused_answer = ?, refused_fingerprint = ?
           WHERE id = ? AND status = 'pending'`,
        ).run(outcome.error, now, outcome.httpStatus, outcome.answer, outcome.fingerprint, id);
      } else {
        this.sql(
          "UPDATE outbox SET status = ?, attempts = attempts + ?, last_error = ?, response = ?, settled_at = ? WHERE id = ? AND status = 'pending'",
        ).run(
          outcome.status,
          outcome.status === 'skipped' ? 0 : 1,
          outcome.status === 'delivered' ? null : outcome.error,
          outcome.status === 'skipped' ? null : outcome.response,
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

  deliveryStates(): Promise<Map<string, ServiceDelivery>> {
    return this.run(() => {
      const states = new Map<string, ServiceDelivery>();
      const state = (slug: string) => {
        let s = states.get(slug);
        if (!s) states.set(slug, (s = { pending: 0, refused: null, lastError: null, openIncident: null }));
        return s;
      };
      type Row = Pick<OutboxRow, 'slug' | 'target' | 'action' | 'last_error' | 'refused_at' | 'refused_status' | 'refused_answer' | 'refused_fingerprint'>;
      const pending = this.sql(
        "SELECT slug, target, action, last_error, refused_at, refused_status, refused_answer, refused_fingerprint FROM outbox WHERE status = 'pending' ORDER BY id",
      ).all() as Row[];
      for (const r of pending) {
        const s = state(r.slug);
        s.pending++;
        const refusal = refusalOf(r);
        if (refusal && !s.refused) s.refused = { target: r.target, action: r.action as Action, refusal };
        if (r.last_error !== null && !s.lastError) s.lastError = { target: r.target, action: r.action as Action, error: r.last_error };
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

  pause(slugs: string[], now: number, until: number | null, reason: string | null): Promise<string[]> {
    return this.run(() =>
      this.db
        .transaction(() => {
          const register = this.sql('INSERT INTO services (slug, registered_at) VALUES (?, ?) ON CONFLICT (slug) DO NOTHING');
          const update = this.sql('UPDATE services SET paused_at = ?, paused_until = ?, pause_reason = ?, version = version + 1 WHERE slug = ?');
          const record = this.sql("INSERT INTO transitions (slug, from_state, to_state, at, recorded_at, reason) VALUES (?, '', 'paused', ?, ?, ?)");
          const why = `paused ${until === null ? 'until resumed' : `until ${new Date(until).toISOString()}`}${reason ? `: ${reason}` : ''}`;
          for (const slug of slugs) {
            register.run(slug, now);
            update.run(now, until, reason, slug);
            record.run(slug, now, now, why);
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

  recordGap(slugs: string[], from: number, to: number): Promise<void> {
    return this.run(() =>
      this.db
        .transaction(() => {
          const reset = this.sql('UPDATE services SET reset_at = ?, version = version + 1 WHERE slug = ?');
          const record = this.sql("INSERT INTO transitions (slug, from_state, to_state, at, recorded_at, reason) VALUES (?, '', 'unknown', ?, ?, ?)");
          const why = `medic check was not running from ${new Date(from).toISOString()} to ${new Date(to).toISOString()}; deadline restarted`;
          for (const slug of slugs) {
            reset.run(to, slug);
            record.run(slug, to, to, why);
          }
          this.sql('UPDATE checker SET blind_from = ?, blind_to = ? WHERE id = 1').run(from, to);
        })
        .immediate(),
    );
  }

  lastGap(): Promise<{ from: number; to: number } | null> {
    return this.run(() => {
      const row = this.sql('SELECT blind_from, blind_to FROM checker WHERE id = 1').get() as { blind_from: number | null; blind_to: number | null };
      return row.blind_from !== null && row.blind_to !== null ? { from: row.blind_from, to: row.blind_to } : null;
    });
  }

  prune(beatsBefore: number, recordsBefore: number, maxBatches: number): Promise<number> {
    return this.run(() => {
      // Small batches, each its own short transaction, so beats arriving meanwhile never wait long.
      const batches = [
        this.sql('DELETE FROM beats WHERE id IN (SELECT id FROM beats WHERE at < ? LIMIT 1000)'),
        this.sql('DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE at < ? LIMIT 1000)'),
        this.sql(
          `DELETE FROM transitions WHERE id IN (SELECT id FROM transitions WHERE at < ? AND id NOT IN
           (SELECT incident_id FROM services WHERE incident_id IS NOT NULL) LIMIT 1000)`,
        ),
        this.sql("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE status <> 'pending' AND created_at < ? LIMIT 1000)"),
      ];
      let deleted = 0;
      let left = maxBatches;
      for (const [i, stmt] of batches.entries()) {
        const before = i === 0 ? beatsBefore : recordsBefore;
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
    return this.run(() => ({
      beats: (this.sql('SELECT at FROM beats WHERE slug = ? AND at >= ? AND at <= ? ORDER BY at').all(slug, since, until) as { at: number }[]).map(
        (r) => r.at,
      ),
      transitions: (
        this.sql('SELECT at, recorded_at, from_state, to_state, reason FROM transitions WHERE slug = ? AND at >= ? AND at <= ? ORDER BY at, id').all(
          slug,
          since,
          until,
        ) as { at: number; recorded_at: number; from_state: string; to_state: string; reason: string }[]
      ).map((r) => ({ at: r.at, recordedAt: r.recorded_at, from: r.from_state, to: r.to_state, reason: r.reason })),
      deliveries: this.sql('SELECT at, target, action, outcome, detail FROM deliveries WHERE slug = ? AND at >= ? AND at <= ? ORDER BY at, id').all(
        slug,
        since,
        until,
      ) as History['deliveries'],
    }));
  }

  acquireLock(owner: string, now: number, leaseMs: number, takeOverFrom?: string): Promise<{ acquired: boolean; holder: string | null }> {
    return this.run(() =>
      this.db
        .transaction(() => {
          const taken = this.sql(
            `UPDATE checker SET owner = ?, lease_until = ?
             WHERE id = 1 AND (owner IS NULL OR lease_until <= ? OR owner = ?)`,
          ).run(owner, now + leaseMs, now, takeOverFrom ?? null);
          if (taken.changes === 1) return { acquired: true, holder: owner };
          const row = this.sql('SELECT owner FROM checker WHERE id = 1').get() as { owner: string | null };
          return { acquired: false, holder: row.owner };
        })
        .immediate(),
    );
  }

  releaseLock(owner: string, lastRunAt: number): Promise<void> {
    return this.run(() => {
      this.sql('UPDATE checker SET owner = NULL, lease_until = NULL, last_run_at = ? WHERE id = 1 AND owner = ?').run(lastRunAt, owner);
    });
  }

  lastCheckAt(): Promise<number | null> {
    return this.run(() => (this.sql('SELECT last_run_at FROM checker WHERE id = 1').get() as { last_run_at: number | null }).last_run_at);
  }

  schemaVersion(): Promise<number> {
    return this.run(() => this.db.pragma('user_version', { simple: true }) as number);
  }

  close(): void {
    this.db.close();
  }
}
