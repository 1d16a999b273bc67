import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Config, LoadOptions } from '../config.js';
import { nearest } from '../core/suggest.js';
import { DataError } from '../errors.js';
import type { Store } from '../store/types.js';

export interface BeatDeps {
  config: Config;
  openStore: () => Store;
  now: () => number;
}

/** Records one heartbeat. Never touches the network; prints nothing on success. */
export async function beat(input: { slug: string }, deps: BeatDeps): Promise<void> {
  if (!deps.config.bySlug.has(input.slug)) throw unknownService(input.slug, deps.config);
  const store = deps.openStore();
  try {
    await store.recordBeat(input.slug, deps.now());
  } finally {
    store.close();
  }
}

/** "unknown service 'nightly-bakup' — did you mean 'nightly-backup'?" (exit 65). */
export function unknownService(slug: string, config: Config): DataError {
  const guess = nearest(slug, config.bySlug.keys());
  return new DataError(
    `unknown service '${slug}'${guess ? ` — did you mean '${guess}'?` : ''}`,
    guess ? undefined : `services are listed in ${config.file}; \`medic status\` shows them`,
  );
}

/**
 * What `medic beat` needs, fast: the database path, when the config is an explicit JSON file that
 * lists the slug. It lives here, not in config.ts, so a beat loads neither the validator nor cosmiconfig. Beat is on the path of every job, so it does not validate the whole file (check
 * does, every minute); anything unusual falls back to the full load and its error messages.
 */
export async function loadForBeat(opts: LoadOptions, slug: string): Promise<{ databasePath: string } | null> {
  const explicit = opts.path ?? opts.env.MEDIC_CONFIG;
  if (!explicit || !explicit.endsWith('.json')) return null;
  const file = resolve(opts.cwd, explicit);
  let raw: Record<string, any>;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
  } catch {
    return null;
  }
  const services: unknown = raw?.services;
  const database: unknown = raw?.database ?? 'medic.db';
  if (!Array.isArray(services) || typeof database !== 'string' || !services.some((s: { slug?: unknown } | null) => s?.slug === slug)) return null;
  return { databasePath: opts.env.MEDIC_DB ? resolve(opts.env.MEDIC_DB) : resolve(dirname(file), database) };
}
