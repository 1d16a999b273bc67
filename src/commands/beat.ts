import { basename, dirname, extname, isAbsolute, resolve } from 'node:path';
import type { Config, LoadOptions } from '../config.js';
import { readTrustedFile } from '../config-file.js';
import { OUTPUT_TAIL_MAX_BYTES, type SignalDetails, type SignalKind } from '../core/signal.js';
import { isSlug, quoteSlug } from '../core/slug.js';
import { nearest } from '../core/suggest.js';
import { DataError, keysInEnv, redactJobText } from '../errors.js';
import { writeSpoolEntry } from '../spool.js';
import { isPostgresUrl } from '../store/postgres-url.js';
import type { Store } from '../store/types.js';

/** Where a beat goes: the database (and the mode it is created with), or (with `spool` set) a file in the spool folder. */
export type BeatTarget = DatabaseTarget | { spoolDir: string };
export interface DatabaseTarget {
  databasePath: string;
  databaseMode: number;
  /** [scale] A PostgreSQL URL ("database" or MEDIC_DB): the beat goes there, stamped by the database's clock. */
  databaseUrl?: string | null;
  passwordFile?: string | null;
}

export interface BeatDeps {
  /** Finds and parses the config without validating it (config.ts findConfig). */
  findConfig: () => Promise<{ file: string; raw: unknown }>;
  /** Full validation (config.ts buildConfig): throws a ConfigError listing every problem. */
  buildConfig: (raw: unknown, file: string) => Config;
  openStore: (target: DatabaseTarget) => Promise<Store>;
  env: NodeJS.ProcessEnv;
  cwd: string;
  now: () => number;
  /** This process's id, for the spool entry's name. */
  pid: number;
}

/** What a beat says (`medic beat --start/--fail/-m`, `medic run`); without one, a beat is a plain success. */
export type BeatSignal = { kind: SignalKind } & SignalDetails;

/**
 * Records one heartbeat, or with `signal` a run's start, failure or success with details. Never
 * touches the network; prints nothing on success.
 *
 * A beat needs only where to write and the slug's presence in the config, so it checks only
 * those: a mistake elsewhere in the file must not lose the beats of healthy jobs (`medic check`
 * validates everything, every minute, and exits 78 on a bad config). An unknown slug is refused
 * (65), after full validation, so a broken config is reported as such (78).
 */
export async function beat(input: { slug: string; signal?: BeatSignal }, deps: BeatDeps): Promise<void> {
  await deliverBeat(await resolveBeat(input.slug, deps), input.slug, deps.now(), deps, input.signal && withoutKeys(input.signal, deps.env));
}

/** A message or output that holds a routing key from the environment keeps it only as `a1b2…o5p6` (never stored, never sent on). */
export function withoutKeys(signal: BeatSignal, env: NodeJS.ProcessEnv, more: string[] = []): BeatSignal {
  return redactJobText(signal, [...keysInEnv(env), ...more]);
}

/** The full path's answer: where a beat for `slug` goes, or the error (65, 78) it ends with. */
export async function resolveBeat(slug: string, deps: Pick<BeatDeps, 'findConfig' | 'buildConfig' | 'env' | 'cwd'>): Promise<BeatTarget> {
  checkSlug(slug);
  const found = await deps.findConfig();
  const target = beatTarget(found.raw, found.file, slug, deps.env, deps.cwd);
  if (!target) throw unknownService(slug, deps.buildConfig(found.raw, found.file));
  return target;
}

/** Writes the beat where `target` says: one row in the database, or one file in the spool (empty for a plain beat). */
export async function deliverBeat(target: BeatTarget, slug: string, at: number, deps: Pick<BeatDeps, 'openStore' | 'pid'>, signal?: BeatSignal): Promise<void> {
  if ('spoolDir' in target) {
    writeSpoolEntry(target.spoolDir, slug, at, deps.pid, signal);
    return;
  }
  const store = await deps.openStore(target);
  try {
    // PostgreSQL: one clock for every host, the database's (no time passed).
    if (target.databaseUrl) await store.recordBeats([{ slug, kind: signal?.kind, details: signal }]);
    else await store.recordBeat(slug, at, signal);
  } finally {
    await store.close();
  }
}

/** A slug that breaks the slug rule can be no service's: refused first, with the rule (65). */
export function checkSlug(slug: string): void {
  if (isSlug(slug)) return;
  throw new DataError(
    `${quoteSlug(slug)} is not a valid slug: a slug is 1-64 characters of a-z 0-9 . _ - starting with a letter or digit`,
    'use the slug exactly as the config lists it; `medic status` shows them',
  );
}

/**
 * Where a beat for `slug` goes, when the parsed config lists the slug and says where with a usable
 * value; null otherwise (the caller then validates the whole config, to report what is wrong).
 * Only the top-level `database` and `spool` count: a key of that name anywhere else is not read.
 */
export function beatTarget(raw: unknown, file: string, slug: string, env: NodeJS.ProcessEnv, cwd: string): BeatTarget | null {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return null;
  const cfg = raw as { services?: unknown; database?: unknown; databaseMode?: unknown; spool?: unknown };
  if (!Array.isArray(cfg.services) || !cfg.services.some((s: unknown) => (s as { slug?: unknown } | null)?.slug === slug)) return null;
  const inFolder = (p: string) => (isAbsolute(p) ? p : resolve(dirname(file), p));
  if (cfg.spool !== undefined) return typeof cfg.spool === 'string' && cfg.spool !== '' ? { spoolDir: inFolder(cfg.spool) } : null;
  const database = cfg.database ?? 'medic.db';
  const databaseMode = DATABASE_MODES.get(cfg.databaseMode ?? '0600');
  if (typeof database !== 'string' || database === '' || databaseMode === undefined) return null;
  const url = env.MEDIC_DB || database;
  if (isPostgresUrl(url)) {
    const file = (cfg as { passwordFile?: unknown }).passwordFile;
    if (file !== undefined && (typeof file !== 'string' || file === '')) return null;
    return { databasePath: url, databaseMode, databaseUrl: url, passwordFile: typeof file === 'string' ? inFolder(file) : null };
  }
  return { databasePath: env.MEDIC_DB ? resolve(cwd, env.MEDIC_DB) : inFolder(database), databaseMode };
}

/**
 * The `outputTail` (bytes) for `medic run` of `slug`, read from the parsed config as a beat reads
 * it: the service's own, else `defaults.outputTail`; null when neither is a whole number of bytes
 * within the schema's bounds (the caller takes the default; `medic check` reports a bad value).
 */
export function outputTailOf(raw: unknown, slug: string): number | null {
  const valid = (v: unknown) => (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= OUTPUT_TAIL_MAX_BYTES ? (v as number) : null);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return null;
  const cfg = raw as { services?: unknown; defaults?: { outputTail?: unknown } | null };
  const service = Array.isArray(cfg.services) ? (cfg.services as ({ slug?: unknown; outputTail?: unknown } | null)[]).find((x) => x?.slug === slug) : undefined;
  return valid(service?.outputTail) ?? valid(cfg.defaults?.outputTail);
}

/** `databaseMode` as config.ts reads it: a beat may be the one that creates the database. */
const DATABASE_MODES = new Map<unknown, number>([
  ['0600', 0o600],
  ['0660', 0o660],
]);

/**
 * The quick path, for the common case of an explicit JSON config (`--config` or MEDIC_CONFIG):
 * the file is read and parsed here, so a beat loads neither cosmiconfig nor the validator. It
 * gives the full path's answer or null (then the caller takes the full path): it applies exactly
 * where config-file.ts reads a file with JSON.parse, reads the file the same way (UTF-8, fatal on
 * a bad byte), and leaves the unusual to the full path (files over QUICK_MAX_BYTES, anything not
 * a regular file, a file the trust rules refuse). The equivalence is
 * property-tested (test/unit/quick-beat.test.ts).
 */
export function quickBeatTarget(opts: LoadOptions, slug: string): BeatTarget | null {
  checkSlug(slug);
  const explicit = opts.path ?? opts.env.MEDIC_CONFIG;
  if (!explicit) return null;
  const file = resolve(opts.cwd, explicit);
  // config-file.ts parses a `.json` file with JSON.parse, except `package.json` (its "medic" key).
  if (extname(file) !== '.json' || basename(file) === 'package.json') return null;
  let text: string;
  try {
    text = readSmallFile(file, opts.uid, opts.gid);
  } catch {
    return null;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  return beatTarget(raw, file, slug, opts.env, opts.cwd);
}

/** Far below config-file.ts's 64 MiB limit: a bigger config is left to the full path. */
const QUICK_MAX_BYTES = 16 * 1024 * 1024;

function readSmallFile(file: string, uid: number, gid: number | undefined): string {
  // config-file.ts's own reader (SPEC §8): what it would refuse (a link another user owns, not a
  // regular file, the trust rules), it refuses, through the one descriptor it checked.
  return new TextDecoder('utf-8', { fatal: true }).decode(readTrustedFile(file, uid, gid, QUICK_MAX_BYTES));
}

/** "unknown service 'nightly-bakup' — did you mean 'nightly-backup'?" (exit 65). */
export function unknownService(slug: string, config: Config): DataError {
  const guess = nearest(slug, config.bySlug.keys());
  return new DataError(
    `unknown service '${slug}'${guess ? ` — did you mean '${guess}'?` : ''}`,
    guess ? undefined : `services are listed in ${config.file}; \`medic status\` shows them`,
  );
}
