/**
 * `medic migrate`'s own logic: what `--to` may be, and the verification of the copy (which must be
 * able to fail: a copy that lost a row, or an id, is refused).
 */
import { describe, expect, it } from 'vitest';
import { checkTargetUrl, migrateJson, migrateText, type MigrateResult } from '../../src/commands/migrate.js';
import { tallyMismatches, type Tally } from '../../src/store/migrate.js';

const source: Tally[] = [
  { table: 'services', rows: 3, minId: null, maxId: null },
  { table: 'beats', rows: 1000, minId: 1, maxId: 1000 },
  { table: 'checker', rows: 1, minId: 1, maxId: 1 },
];
const withBeats = (beats: Partial<Tally>): Tally[] => source.map((t) => (t.table === 'beats' ? { ...t, ...beats } : t));

describe('verifying the copy', () => {
  it('the same counts and ids: verified', () => {
    expect(tallyMismatches(source, structuredClone(source))).toEqual([]);
  });

  it.each([
    ['a row fewer', withBeats({ rows: 999, maxId: 999 }), ['beats: 1000 rows in SQLite, 999 in PostgreSQL; ids 1–1000 in SQLite, 1–999 in PostgreSQL']],
    ['the same count but other ids', withBeats({ minId: 2, maxId: 1001 }), ['beats: ids 1–1000 in SQLite, 2–1001 in PostgreSQL']],
    ['an empty table', withBeats({ rows: 0, minId: null, maxId: null }), ['beats: 1000 rows in SQLite, 0 in PostgreSQL; ids 1–1000 in SQLite, none in PostgreSQL']],
    ['a table missing', source.filter((t) => t.table !== 'services'), ['services: missing in PostgreSQL']],
    ['a table too many', [...source, { table: 'logs', rows: 0, minId: null, maxId: null }], ['logs: not in SQLite']],
  ])('%s: refused, naming the table', (_what, target, problems) => {
    expect(tallyMismatches(source, target)).toEqual(problems);
  });
});

describe('--to', () => {
  it.each([
    'postgres://medic@db.internal:5432/medic',
    'postgresql://medic@127.0.0.1/medic?sslmode=require',
    'postgres:///medic',
  ])('%s is taken', (url) => {
    expect(checkTargetUrl(url).href).toBe(url);
  });

  it.each([
    ['a password in the userinfo', 'postgres://medic:s3cret-pw@db.internal/medic', /^--to: a password in the database URL is refused; .*PGPASSWORD/],
    ['a password as a parameter', 'postgres://medic@db.internal/medic?password=s3cret-pw', /^--to: a password in the database URL \(\?password=\) is refused/],
    ['another scheme', 'mysql://medic@db.internal/medic', /expected a postgres:\/\/ or postgresql:\/\/ URL, got a mysql:\/\/ URL/],
    ['a file path', './medic.db', /expected a PostgreSQL URL/],
  ])('%s is refused (64), without repeating the URL', (_what, url, message) => {
    let err: any;
    try {
      checkTargetUrl(url);
    } catch (e) {
      err = e;
    }
    expect(err?.exitCode).toBe(64);
    expect(err.message).toMatch(message);
    expect(`${err.message} ${err.hint}`).not.toContain('s3cret');
    expect(err.message).not.toContain(url);
  });
});

describe('what migrate prints of --to: no password, no option but the known-safe ones', () => {
  const result = (to: string): MigrateResult => ({ from: '/var/lib/medic/medic.db', to, configFile: '/etc/medic/medic.config.json', report: { tallies: source, beatsAfter: 0, ms: 1200 } });
  const base = 'postgres://medic@db.example.test:5432/medic';

  it.each<[string, string, string]>([
    ['a plain URL, as given', base, ''],
    ['the safe options kept', `${base}?sslmode=verify-full&application_name=medic&connect_timeout=5`, ''],
    ['a file path dropped, counted', `${base}?sslmode=verify-full&sslrootcert=/etc/medic/ca.pem`, ', adding back the query option of --to not shown here,'],
    ['secrets and unknown options dropped, counted', `${base}?sslpassword=hunter2-ssl&options=-c%20x%3Dhunter2-opt&sslkey=/k`, ', adding back the 3 query options of --to not shown here,'],
    ['a safe option holding a routing key dropped, counted', `${base}?sslmode=disable&application_name=hunter2a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6`, ', adding back the query option of --to not shown here,'],
  ])('%s', (_label, to, others) => {
    const safe = to
      .replace(/[?&](sslrootcert|sslpassword|options|sslkey)=[^&]*/g, '')
      .replace(/[?&]application_name=[^&]*[A-Za-z0-9]{32}[^&]*/g, '')
      .replace(/^([^?]*)&/, '$1?');
    const text = migrateText(result(to));
    expect(text).toContain('copied /var/lib/medic/medic.db into PostgreSQL database "medic" at medic@db.example.test:5432 in');
    expect(text).toContain(`  1. In /etc/medic/medic.config.json set "database": ${JSON.stringify(safe)} (or MEDIC_DB=${safe})${others} on every host that runs medic.`);
    expect(JSON.parse(migrateJson(result(to))).to).toBe(safe);
    for (const secret of ['hunter2', 'ca.pem', '/k']) {
      expect(text).not.toContain(secret);
      expect(migrateJson(result(to))).not.toContain(secret);
    }
  });
});
