import { DEFAULT_DATABASE_MODE, openSqliteStore } from './sqlite.js';
import type { OpenOptions, Store } from './types.js';

/** What opening the store needs from the config. */
export interface StoreConfig {
  databasePath: string;
  /** The config's "databaseMode": 0o600 (default) or 0o660 for several users sharing one group. */
  databaseMode?: number;
}

export interface StoreOptions extends OpenOptions {
  /** The user medic runs as (cli.ts reads it from the process): only files it or root owns are trusted. */
  uid: number;
  /** Its primary group (see trustProblem). */
  gid?: number;
}

/**
 * Opens the store the config names, the one way commands get one. SQLite today; a second store
 * (PostgreSQL, chosen by a URL in "database") plugs in here and runs test/store/contract.ts.
 */
export async function openStore(config: StoreConfig, opts: StoreOptions): Promise<Store> {
  return openSqliteStore(config.databasePath, { uid: opts.uid, gid: opts.gid, mode: config.databaseMode ?? DEFAULT_DATABASE_MODE, readOnly: opts.readOnly === true });
}
