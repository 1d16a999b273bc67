import type { Config } from '../config.js';
import { formatDuration } from '../core/duration.js';
import { UsageError } from '../errors.js';
import { databaseUrlProblem, describeUrl, shownUrl } from '../store/postgres-url.js';
import type { MigrateReport, Tally } from '../store/migrate.js';

export interface MigrateInput {
  /** `--to`: the PostgreSQL database to copy into, a URL without a password. */
  to: string;
}

export interface MigrateDeps {
  config: Config;
  /** src/store/migrate.ts's migrateToPostgres, with everything but the two databases bound. */
  copy: (sqlitePath: string, url: string) => Promise<MigrateReport>;
}

export interface MigrateResult {
  from: string;
  to: string;
  configFile: string;
  report: MigrateReport;
}

/**
 * Refuses what `--to` must not be: anything but a postgres:// or postgresql:// URL, and a URL that
 * holds a password (in its userinfo or as `?password=`), as the config refuses one: a password on a
 * command line is seen by every user of the machine (ps) and kept in shell histories. The URL is
 * never repeated in the message (it may hold the password).
 */
export function checkTargetUrl(to: string): URL {
  let url: URL;
  try {
    url = new URL(to);
  } catch {
    throw new UsageError('--to: expected a PostgreSQL URL like postgres://medic@db.internal:5432/medic', 'give the URL of an empty PostgreSQL database');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new UsageError(
      `--to: expected a postgres:// or postgresql:// URL, got a ${url.protocol}// URL`,
      'medic migrate copies the SQLite database into PostgreSQL: give the URL of an empty PostgreSQL database',
    );
  }
  const problem = databaseUrlProblem(to);
  if (problem) throw new UsageError(`--to: ${problem}`, 'the command line is visible to every user of this machine (ps) and kept in shell histories');
  return url;
}

/** Copies the configured SQLite database into the PostgreSQL database `--to` names. */
export async function migrate(input: MigrateInput, deps: MigrateDeps): Promise<MigrateResult> {
  checkTargetUrl(input.to);
  if (deps.config.databaseUrl) {
    throw new UsageError(
      `the config's database is already PostgreSQL (${describeUrl(deps.config.databaseUrl)}); medic migrate copies a SQLite database into PostgreSQL`,
      'run it with the config (or MEDIC_DB) that names the SQLite file to copy',
    );
  }
  const from = deps.config.databasePath;
  const report = await deps.copy(from, input.to);
  return { from, to: input.to, configFile: deps.config.file, report };
}

const NOUNS: Record<string, [string, string]> = {
  services: ['service', 'services'],
  beats: ['beat', 'beats'],
  logs: ['log line', 'log lines'],
  transitions: ['state change', 'state changes'],
  outbox: ['event', 'events'],
  deliveries: ['delivery attempt', 'delivery attempts'],
};

function counted(t: Tally): string | null {
  const noun = NOUNS[t.table];
  return noun ? `${t.rows} ${t.rows === 1 ? noun[0] : noun[1]}` : null;
}

/** What the operator reads: what was copied, and what to change in the config. */
export function migrateText(r: MigrateResult): string {
  const counts = r.report.tallies.map(counted).filter((c) => c !== null);
  // The URL as given may hold options that are file paths or secrets: shown without them.
  const to = shownUrl(r.to);
  const others = to.dropped === 0 ? '' : `, adding back the ${to.dropped === 1 ? 'query option' : `${to.dropped} query options`} of --to not shown here,`;
  const lines = [
    `copied ${r.from} into ${describeUrl(r.to)} in ${formatDuration(Math.max(1, Math.round(r.report.ms / 1000)) * 1000)}: ${counts.join(', ')} (counts and ids verified)`,
  ];
  if (r.report.beatsAfter > 0) {
    lines.push(
      `${r.report.beatsAfter} ${r.report.beatsAfter === 1 ? 'beat' : 'beats'} arrived in SQLite during the copy and ${r.report.beatsAfter === 1 ? 'is' : 'are'} not in PostgreSQL; those services catch up with their next beat`,
    );
  }
  lines.push(
    '',
    'Next:',
    `  1. In ${r.configFile} set "database": ${JSON.stringify(to.url)} (or MEDIC_DB=${to.url})${others} on every host that runs medic.`,
    '  2. Give the password through PGPASSWORD, ~/.pgpass or "passwordFile" in the config, never in the URL.',
    '  3. Run `medic doctor`, then `medic status`: it shows the same services as before.',
    `  ${r.from} is left as it was; keep it until PostgreSQL has run for a while.`,
  );
  return lines.join('\n');
}

export function migrateJson(r: MigrateResult): string {
  return JSON.stringify(
    {
      from: r.from,
      to: shownUrl(r.to).url,
      tables: Object.fromEntries(r.report.tallies.map((t) => [t.table, { rows: t.rows, minId: t.minId, maxId: t.maxId }])),
      beatsAfterSnapshot: r.report.beatsAfter,
      ms: r.report.ms,
    },
    null,
    2,
  );
}
