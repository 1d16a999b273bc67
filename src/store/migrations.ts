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
  {
    // [trust] pause, flap damping, an attempt log for history, beats pruned by age, checker gaps.
    version: 2,
    up: `
      ALTER TABLE services ADD COLUMN paused_at INTEGER;
      ALTER TABLE services ADD COLUMN paused_until INTEGER;
      ALTER TABLE services ADD COLUMN pause_reason TEXT;
      ALTER TABLE services ADD COLUMN incident_held_since INTEGER;
      CREATE INDEX beats_at ON beats (at);
      CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        outbox_id INTEGER NOT NULL,
        slug TEXT NOT NULL,
        target TEXT NOT NULL,
        action TEXT NOT NULL,
        at INTEGER NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'rejected', 'retry', 'skipped')),
        detail TEXT
      ) STRICT;
      CREATE INDEX deliveries_slug_at ON deliveries (slug, at);
      CREATE INDEX deliveries_at ON deliveries (at);
      CREATE INDEX transitions_at ON transitions (at);
      ALTER TABLE checker ADD COLUMN blind_from INTEGER;
      ALTER TABLE checker ADD COLUMN blind_to INTEGER;
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
