import { ConfigError } from '../errors.js';
import { databaseUrlProblem, readPasswordFile } from './postgres-url.js';
import { DEFAULT_DATABASE_MODE, openSqliteStore } from './sqlite.js';
import type { OpenOptions, Store } from './types.js';

/** What opening the store needs from the config. */
export interface StoreConfig {
  databasePath: string;
  /** The config's "databaseMode": 0o600 (default) or 0o660 for several users sharing one group. */
  databaseMode?: number;
  /** [scale] A `postgres://` or `postgresql://` URL (no password in it): the store is PostgreSQL, not the file at databasePath. */
  databaseUrl?: string | null;
  /** [scale] The config's "passwordFile" (absolute): the PostgreSQL password; without it pg reads PGPASSWORD, ~/.pgpass. */
  passwordFile?: string | null;
}

export interface StoreOptions extends OpenOptions {
  /** The user medic runs as (cli.ts reads it from the process): only files it or root owns are trusted. */
  uid: number;
  /** Its primary group (see trustProblem). */
  gid?: number;
}

export { isPostgresUrl } from './postgres-url.js';

/**
 * Opens the store the config names, the one way commands get one: PostgreSQL for a URL (pg is
 * loaded only then, so the SQLite path never pays for it), else the SQLite file.
 */
export async function openStore(config: StoreConfig, opts: StoreOptions): Promise<Store> {
  if (config.databaseUrl) {
    // The config refuses these too; a beat reads "database" without the whole config.
    const problem = databaseUrlProblem(config.databaseUrl);
    if (problem) throw new ConfigError(`"database" (or MEDIC_DB): ${problem}`);
    const password = config.passwordFile ? readPasswordFile(config.passwordFile, opts.uid) : undefined;
    const { openPostgresStore } = await import('./postgres.js');
    return openPostgresStore(config.databaseUrl, { readOnly: opts.readOnly === true, uid: opts.uid, ...(password !== undefined && { password }) });
  }
  return openSqliteStore(config.databasePath, { uid: opts.uid, gid: opts.gid, mode: config.databaseMode ?? DEFAULT_DATABASE_MODE, readOnly: opts.readOnly === true });
}
