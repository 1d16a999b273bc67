import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Config, LoadOptions } from '../config.js';
import { nearest } from '../core/suggest.js';
import { DataError } from '../errors.js';
import type { Store } from '../store/types.js';

export interface BeatDeps {
  /** Finds and parses the config without validating it (config.ts findConfig). */
  findConfig: () => Promise<{ file: string; raw: unknown }>;
  /** Full validation (config.ts buildConfig): throws a ConfigError listing every problem. */
  buildConfig: (raw: unknown, file: string) => Config;
  openStore: (databasePath: string) => Store;
  env: NodeJS.ProcessEnv;
  now: () => number;
}

/**
 * Records one heartbeat. Never touches the network; prints nothing on success.
 *
 * A beat needs only the database path and the slug's presence in the config, so it checks only
 * those: a mistake elsewhere in the file must not lose the beats of healthy jobs (`medic check`
 * validates everything, every minute, and exits 78 on a bad config). An unknown slug is refused
 * (65), after full validation, so a broken config is reported as such (78).
 */
export async function beat(input: { slug: string }, deps: BeatDeps): Promise<void> {
  const found = await deps.findConfig();
  const target = beatTarget(found.raw, found.file, input.slug, deps.env);
  if (!target) throw unknownService(input.slug, deps.buildConfig(found.raw, found.file));
  await recordBeat(deps.openStore(target.databasePath), input.slug, deps.now());
}

export async function recordBeat(store: Store, slug: string, at: number): Promise<void> {
  try {
    await store.recordBeat(slug, at);
  } finally {
    store.close();
  }
}

/** The database a beat for `slug` goes to, when the parsed config lists the slug. */
export function beatTarget(raw: unknown, file: string, slug: string, env: NodeJS.ProcessEnv): { databasePath: string } | null {
  const cfg = raw as { services?: unknown; database?: unknown } | null;
  const database = cfg?.database ?? 'medic.db';
  if (!Array.isArray(cfg?.services) || typeof database !== 'string') return null;
  if (!cfg.services.some((s: { slug?: unknown } | null) => s?.slug === slug)) return null;
  return { databasePath: env.MEDIC_DB ? resolve(env.MEDIC_DB) : resolve(dirname(file), database) };
}

/**
 * The fast path for the common case, an explicit JSON config (`--config` or MEDIC_CONFIG): read
 * and parse it directly, so a beat loads neither cosmiconfig nor the validator. Null when the
 * case is not that simple; the caller then takes `beat()`.
 */
export function quickBeatTarget(opts: Pick<LoadOptions, 'path' | 'cwd' | 'env'>, slug: string): { databasePath: string } | null {
  const explicit = opts.path ?? opts.env.MEDIC_CONFIG;
  if (!explicit || !explicit.endsWith('.json')) return null;
  const file = resolve(opts.cwd, explicit);
  try {
    const bytes = readFileSync(file);
    if (bytes.length > SCAN_FROM_BYTES) return scanBeatTarget(bytes, file, slug, opts.env);
    return beatTarget(JSON.parse(bytes.toString('utf8')), file, slug, opts.env);
  } catch {
    return null;
  }
}

/** Above this size, parsing the whole config would be most of a beat's cost (BENCHMARKS.md). */
const SCAN_FROM_BYTES = 256 * 1024;

/**
 * The same answer as beatTarget, from the text of a large JSON config without parsing it: the slug
 * must appear as a `"slug": "<slug>"` member (only services have a "slug" key), and "database", the
 * only key of that name in the schema, must appear at most once. Anything less clear-cut returns
 * null, and the caller takes the full path. latin1 keeps string offsets equal to byte offsets.
 */
function scanBeatTarget(bytes: Buffer, file: string, slug: string, env: NodeJS.ProcessEnv): { databasePath: string } | null {
  const text = bytes.toString('latin1');
  const escaped = slug.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  if (!new RegExp(`"slug"\\s*:\\s*"${escaped}"`).test(text)) return null;
  const databases = [...text.matchAll(/"database"\s*:\s*"((?:[^"\\]|\\.)*)"/g)];
  if (databases.length > 1 || (databases.length === 0 && text.includes('"database"'))) return null;
  let database = 'medic.db';
  const match = databases[0];
  if (match) {
    const end = match.index! + match[0].length - 1; // the closing quote
    database = JSON.parse(`"${bytes.toString('utf8', end - match[1]!.length, end)}"`) as string;
  }
  return beatTarget({ services: [{ slug }], database }, file, slug, env);
}

/** "unknown service 'nightly-bakup' — did you mean 'nightly-backup'?" (exit 65). */
export function unknownService(slug: string, config: Config): DataError {
  const guess = nearest(slug, config.bySlug.keys());
  return new DataError(
    `unknown service '${slug}'${guess ? ` — did you mean '${guess}'?` : ''}`,
    guess ? undefined : `services are listed in ${config.file}; \`medic status\` shows them`,
  );
}
