/**
 * PostgreSQL for one test: a fresh database on the run's shared throwaway cluster (started by
 * test/global-setup.ts), dropped when the test finishes.
 */
import { inject, onTestFinished } from 'vitest';
import { createDatabase } from './pg-cluster.js';

/** The shared cluster's superuser URL (no password: trust on loopback). */
export function pgAdminUrl(): string {
  return inject('pg').adminUrl;
}

/** A new, empty database for the current test; returns its `postgres://` URL (no password). */
export async function freshDatabase(): Promise<string> {
  const db = await createDatabase(pgAdminUrl());
  onTestFinished(() => db.drop());
  return db.url;
}
