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
  {
    // The database is not trusted for where and what to send (SPEC §5): an event keeps the facts
    // its trigger is rebuilt from, not a wire body, an events URL or a key source; the target is
    // looked up by name in the current config at send time. A refusal that a config change can cure
    // keeps the event pending, with PagerDuty's answer and a one-way fingerprint of the target's
    // URL and key at the time.
    version: 3,
    up: `
      ALTER TABLE outbox ADD COLUMN down_at INTEGER;
      ALTER TABLE outbox ADD COLUMN last_beat_at INTEGER;
      ALTER TABLE outbox ADD COLUMN missed_heartbeats INTEGER;
      ALTER TABLE outbox ADD COLUMN refused_at INTEGER;
      ALTER TABLE outbox ADD COLUMN refused_status INTEGER;
      ALTER TABLE outbox ADD COLUMN refused_answer TEXT;
      ALTER TABLE outbox ADD COLUMN refused_fingerprint TEXT;
      UPDATE outbox SET
        down_at = coalesce(
          CAST(round((julianday(json_extract(body, '$.payload.timestamp')) - 2440587.5) * 86400000) AS INTEGER),
          (SELECT t.at FROM transitions t WHERE t.id = outbox.incident_id)),
        last_beat_at = CAST(round((julianday(json_extract(body, '$.payload.custom_details.last_seen')) - 2440587.5) * 86400000) AS INTEGER),
        missed_heartbeats = coalesce(CAST(json_extract(body, '$.payload.custom_details.missed_heartbeats') AS INTEGER), 0)
      WHERE action = 'trigger' AND json_valid(body);
      -- Events older versions rejected for good become pending and refused, so that a fix of the
      -- config releases them (no fingerprint: the next check sends them once more). Only those
      -- still meaningful: a trigger whose incident is still open, a resolve with nothing after it
      -- for the same service and target (an older one would now resolve a later incident).
      UPDATE outbox SET
        status = 'pending',
        settled_at = NULL,
        refused_at = coalesce(settled_at, created_at),
        refused_status = CASE WHEN last_error GLOB 'HTTP [0-9][0-9][0-9]*' THEN CAST(substr(last_error, 6, 3) AS INTEGER) END,
        refused_answer = CASE WHEN instr(last_error, ' — ') > 0 THEN substr(last_error, instr(last_error, ' — ') + 3) ELSE coalesce(last_error, '') END
      WHERE status = 'rejected' AND (
        (action = 'trigger' AND incident_id IN (SELECT incident_id FROM services WHERE incident_id IS NOT NULL))
        OR (action = 'resolve' AND NOT EXISTS (SELECT 1 FROM outbox later WHERE later.slug = outbox.slug AND later.target = outbox.target AND later.id > outbox.id))
      );
      ALTER TABLE outbox DROP COLUMN events_url;
      ALTER TABLE outbox DROP COLUMN key_ref;
      ALTER TABLE outbox DROP COLUMN body;
    `,
  },
  {
    // [jobs] Signals: a beat is a success ('ok', every older beat), a run start or a failure, with
    // the run's details. The service keeps its own copy of the failure since the last success (the
    // beats it came from are pruned by age) and the start of a run not yet ended. A trigger keeps
    // why the service went down and the failing run's details, to rebuild its body from. A pause
    // record keeps its own end, for replay; the one still running gets it from the service.
    version: 4,
    up: `
      ALTER TABLE beats ADD COLUMN kind TEXT NOT NULL DEFAULT 'ok' CHECK (kind IN ('ok', 'start', 'fail'));
      ALTER TABLE beats ADD COLUMN exit_code INTEGER;
      ALTER TABLE beats ADD COLUMN duration_ms INTEGER;
      ALTER TABLE beats ADD COLUMN message TEXT;
      ALTER TABLE beats ADD COLUMN output_tail TEXT;
      ALTER TABLE services ADD COLUMN failure_at INTEGER;
      ALTER TABLE services ADD COLUMN failure_exit_code INTEGER;
      ALTER TABLE services ADD COLUMN failure_duration_ms INTEGER;
      ALTER TABLE services ADD COLUMN failure_message TEXT;
      ALTER TABLE services ADD COLUMN failure_output_tail TEXT;
      ALTER TABLE services ADD COLUMN run_started_at INTEGER;
      ALTER TABLE outbox ADD COLUMN reason TEXT;
      ALTER TABLE outbox ADD COLUMN exit_code INTEGER;
      ALTER TABLE outbox ADD COLUMN duration_ms INTEGER;
      ALTER TABLE outbox ADD COLUMN message TEXT;
      ALTER TABLE outbox ADD COLUMN output_tail TEXT;
      ALTER TABLE transitions ADD COLUMN until_at INTEGER;
      UPDATE transitions SET until_at = (SELECT s.paused_until FROM services s WHERE s.slug = transitions.slug AND s.paused_at = transitions.at)
      WHERE to_state = 'paused' AND id IN (SELECT max(id) FROM transitions WHERE to_state = 'paused' GROUP BY slug);
    `,
  },
  {
    // [scale] Healthchecks-style pings (medic serve): a run id pairs a start with its end, and /log
    // lines are kept for history without changing state. Several checkers: an outbox event is
    // claimed by the checker sending it (until its lease runs out), and the last run's owner is
    // kept for status.
    version: 5,
    up: `
      ALTER TABLE beats ADD COLUMN run_id TEXT;
      CREATE INDEX beats_run ON beats (slug, run_id) WHERE run_id IS NOT NULL;
      CREATE TABLE logs (
        id INTEGER PRIMARY KEY,
        slug TEXT NOT NULL,
        at INTEGER NOT NULL,
        message TEXT NOT NULL
      ) STRICT;
      CREATE INDEX logs_slug_at ON logs (slug, at);
      CREATE INDEX logs_at ON logs (at);
      ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
      ALTER TABLE outbox ADD COLUMN claimed_until INTEGER;
      ALTER TABLE checker ADD COLUMN last_run_by TEXT;
    `,
  },
  {
    // [targets] A delivered trigger keeps a receipt from its target (a Slack message's channel and
    // ts, with a check only the token's holder can make), so that its resolve can edit that message.
    version: 6,
    up: `
      ALTER TABLE outbox ADD COLUMN receipt TEXT;
    `,
  },
  {
    // [ecosystem] The last check's duration, for Prometheus: when the lock's holder took it
    // (cleared on release) and, for the last run that finished, when it had taken it.
    version: 7,
    up: `
      ALTER TABLE checker ADD COLUMN locked_at INTEGER;
      ALTER TABLE checker ADD COLUMN last_run_started_at INTEGER;
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
