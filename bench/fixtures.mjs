// Configs and databases for the benchmark. Databases get their schema from the real binary
// (the caller runs `medic beat` on a new file first, which applies src/store/migrations.ts);
// this module then fills the rows the way the store writes them: one `services` row per service
// with last_beat_at and beat_seq (the number of its beats), and one `beats` row per beat.
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/** PagerDuty's example key from the integration guide: never a real one. */
export const ROUTING_KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** Every config here uses interval 1h and grace 5m: a service is down 65 min after its last beat. */
const INTERVAL_MS = HOUR;
/** Stored beats span at most this window (inside the default 30-day retention). */
const BEAT_WINDOW_MS = 7 * 24 * HOUR;

export const slugOf = (i) => `svc-${String(i).padStart(6, '0')}`;

/** 1% overdue: every hundredth service (at least one, service 0). */
export const everyHundredth = (i) => i % 100 === 0;
export const overdueCount = (services, overdue = everyHundredth) => {
  let n = 0;
  for (let i = 0; i < services; i++) if (overdue(i)) n++;
  return n;
};

/**
 * A config of `services` services paging one loopback target. Gap protection is set to 30 days so
 * a bench run is never mistaken for a checker that was not running.
 */
export function writeConfig(file, { services, database, eventsUrl }) {
  const config = {
    database,
    defaults: { interval: '1h', grace: '5m', priority: 'P3' },
    targets: { oncall: { type: 'pagerduty', routingKeyEnv: 'PAGERDUTY_ROUTING_KEY', eventsUrl } },
    checker: { gapThreshold: '30d' },
    services: Array.from({ length: services }, (_, i) => ({ slug: slugOf(i), name: `Service ${i}`, team: `team-${i % 50}` })),
  };
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
}

/**
 * Fills a migrated, empty database: `services` services, `beats` beats spread over them (the
 * newest last), overdue services last beat 3 h before `now` (down), the others within the last
 * 20 min (up for at least 40 more minutes). The checker's last run is a minute before `now`.
 */
export function fillDatabase(path, { services, beats, now, overdue = everyHundredth }) {
  const per = Math.floor(beats / services);
  const extra = beats % services;
  const count = (i) => per + (i < extra ? 1 : 0);
  const last = (i) => (overdue(i) ? now - 3 * HOUR - (i % 60) * 1000 : now - ((i * 7919) % (20 * MINUTE)));
  const spacing = (i) => Math.max(1000, Math.min(INTERVAL_MS, Math.floor(BEAT_WINDOW_MS / Math.max(1, count(i)))));
  const slugs = Array.from({ length: services }, (_, i) => slugOf(i));
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.transaction(() => {
      const service = db.prepare('INSERT INTO services (slug, registered_at, last_beat_at, beat_seq) VALUES (?, ?, ?, ?)');
      for (let i = 0; i < services; i++) {
        const n = count(i);
        service.run(slugs[i], last(i) - n * spacing(i) - MINUTE, n > 0 ? last(i) : null, n);
      }
      // Oldest first, services interleaved: row ids grow with time, as `medic beat` writes them.
      const beat = db.prepare('INSERT INTO beats (slug, at) VALUES (?, ?)');
      for (let j = per + (extra > 0 ? 1 : 0) - 1; j >= 0; j--) {
        for (let i = 0; i < services; i++) if (count(i) > j) beat.run(slugs[i], last(i) - j * spacing(i));
      }
      db.prepare('UPDATE checker SET last_run_at = ? WHERE id = 1').run(now - MINUTE);
    })();
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

/** One beat exactly as the store records it (beats row + services upsert), in one transaction. */
export function recordBeats(path, slugs, at) {
  const db = new Database(path, { timeout: 15_000 });
  try {
    const beat = db.prepare('INSERT INTO beats (slug, at) VALUES (?, ?)');
    const service = db.prepare(
      `INSERT INTO services (slug, registered_at, last_beat_at, beat_seq) VALUES (?, ?, ?, 1)
       ON CONFLICT (slug) DO UPDATE SET last_beat_at = excluded.last_beat_at, beat_seq = beat_seq + 1`,
    );
    for (const slug of slugs) {
      db.transaction(() => {
        beat.run(slug, at);
        service.run(slug, at, at);
      }).immediate();
    }
  } finally {
    db.close();
  }
}

/** Runs `fn(db)` on a read-only connection. */
export function inspect(path, fn) {
  const db = new Database(path, { readonly: true, timeout: 15_000 });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** Runs a command to its end: its exit code and what it printed. */
export function exec(cmd, argv, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
