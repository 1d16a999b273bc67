/** Ordered schema migrations; each runs in a transaction and sets PRAGMA user_version. */
export const MIGRATIONS: { version: number; up: string }[] = [
  {
    version: 1,
    up: `
      CREATE TABLE services (
        slug TEXT PRIMARY KEY,
        registered_at INTEGER NOT NULL,
        last_beat_at INTEGER,
        beat_seq INTEGER NOT NULL DEFAULT 0,
        reset_at INTEGER,
        incident_id INTEGER,
        incident_down_at INTEGER,
        incident_beat_seq INTEGER,
        version INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      CREATE TABLE beats (
        id INTEGER PRIMARY KEY,
        slug TEXT NOT NULL,
        at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX beats_slug_at ON beats (slug, at);
      CREATE TABLE transitions (
        id INTEGER PRIMARY KEY,
        slug TEXT NOT NULL,
        from_state TEXT NOT NULL,
        to_state TEXT NOT NULL,
        at INTEGER NOT NULL,
        recorded_at INTEGER NOT NULL,
        reason TEXT NOT NULL
      ) STRICT;
      CREATE INDEX transitions_slug_at ON transitions (slug, at);
      CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        slug TEXT NOT NULL,
        incident_id INTEGER NOT NULL,
        target TEXT NOT NULL,
        events_url TEXT NOT NULL,
        key_ref TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('trigger', 'resolve')),
        dedup_key TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'rejected', 'skipped')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error TEXT,
        response TEXT,
        settled_at INTEGER
      ) STRICT;
      CREATE INDEX outbox_pending ON outbox (id) WHERE status = 'pending';
      CREATE INDEX outbox_slug ON outbox (slug, id);
      CREATE TABLE checker (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        owner TEXT,
        lease_until INTEGER,
        last_run_at INTEGER
      ) STRICT;
      INSERT INTO checker (id) VALUES (1);
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
