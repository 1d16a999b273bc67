import { DEFAULT_DATABASE_MODE, openSqliteStore } from './sqlite.js';
import type { OpenOptions, Store } from './types.js';

/** What opening the store needs from the config. */
export interface StoreConfig {
  databasePath: string;
  /** The config's "databaseMode": 0o600 (default) or 0o660 for several users sharing one group. */
  databaseMode?: number;
  /** [scale] A `postgres://` or `postgresql://` URL (no password in it): the store is PostgreSQL, not the file at databasePath. */
  databaseUrl?: string | null;
  /** [scale] The PostgreSQL password, read from the config's "passwordFile" (else pg reads PGPASSWORD, ~/.pgpass). */
  databasePassword?: string | null;
}

export interface StoreOptions extends OpenOptions {
  /** The user medic runs as (cli.ts reads it from the process): only files it or root owns are trusted. */
  uid: number;
  /** Its primary group (see trustProblem). */
  gid?: number;
}

/** Whether "database" (or MEDIC_DB) names a PostgreSQL database rather than a file. */
export function isPostgresUrl(database: string): boolean {
  return /^postgres(ql)?:\/\//i.test(database);
}

/**
 * Opens the store the config names, the one way commands get one: PostgreSQL for a URL (pg is
 * loaded only then, so the SQLite path never pays for it), else the SQLite file.
 */
export async function openStore(config: StoreConfig, opts: StoreOptions): Promise<Store> {
  if (config.databaseUrl) {
    const { openPostgresStore } = await import('./postgres.js');
    return openPostgresStore(config.databaseUrl, { readOnly: opts.readOnly === true, ...(config.databasePassword != null && { password: config.databasePassword }) });
  }
  return openSqliteStore(config.databasePath, { uid: opts.uid, gid: opts.gid, mode: config.databaseMode ?? DEFAULT_DATABASE_MODE, readOnly: opts.readOnly === true });
}
