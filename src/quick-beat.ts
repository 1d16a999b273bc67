/**
 * `medic beat` with an explicit JSON config, as one self-contained module. The build bundles it
 * a second time on its own as CommonJS (dist/quick-beat.cjs, scripts/build.mjs), and bin/medic
 * runs a plain `medic beat` from that file before anything else is loaded: a beat is on the path
 * of every job, and Node's ES module loader, the CLI and its chunks are most of what a beat would
 * cost above the bare database write (BENCHMARKS.md). Anything else goes to the ES module CLI.
 */
import { beatArgs } from './beat-args.js';
import { type BeatSignal, type DatabaseTarget, deliverBeat, quickBeatTarget } from './commands/beat.js';
import { DEFAULT_DATABASE_MODE, openSqliteStore } from './store/sqlite.js';
import type { Store } from './store/types.js';

export interface QuickBeatDeps {
  /** `--config`, else MEDIC_CONFIG in env. */
  path?: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** The user medic runs as (effective uid): the trust rules of SPEC §8 apply to the config and the database. */
  uid: number;
  /** Its primary group: a folder only that group can write is trusted (user private groups). */
  gid?: number;
  now: () => number;
  pid: number;
  openStore?: (target: DatabaseTarget) => Promise<Store>;
}

/**
 * Records the beat (with `signal`, what it says: `medic beat --start/--fail/-m` come here from the
 * CLI, never from bin/medic's own start, which takes a plain beat only) and returns true, or
 * returns false when the quick path does not apply (the caller then takes the full path, which
 * gives the same answer: commands/beat.ts). Throws what the beat fails with (a bad slug 65, a
 * database or spool that cannot be written 74).
 */
export async function quickBeat(slug: string, deps: QuickBeatDeps, signal?: BeatSignal): Promise<boolean> {
  const target = quickBeatTarget(deps, slug);
  // PostgreSQL is the full CLI's (pg is not part of this bundle's quick start).
  if (!target || ('databaseUrl' in target && target.databaseUrl)) return false;
  // SQLite only here (store/index.ts would bring the PostgreSQL store into this bundle).
  const open = async (t: DatabaseTarget) => openSqliteStore(t.databasePath, { uid: deps.uid, gid: deps.gid, mode: t.databaseMode ?? DEFAULT_DATABASE_MODE });
  await deliverBeat(target, slug, deps.now(), { openStore: deps.openStore ?? open, pid: deps.pid }, signal);
  return true;
}

type Cli = Pick<typeof import('./cli.js'), 'run' | 'runFailedBeat'>;

/**
 * bin/medic's entry: a plain `medic beat <slug>` with an explicit JSON config is done here;
 * everything else (and the report of a failure, through the one exit funnel) loads the CLI.
 */
export function start(argv: string[], env: NodeJS.ProcessEnv, loadCli: () => Promise<Cli>): void {
  // A beat for medic serve (MEDIC_URL) is the full CLI's: the quick path only writes to a database.
  const args = env.MEDIC_URL ? null : beatArgs(argv);
  const attempt: Promise<unknown> = args
    ? quickBeat(args.slug, { path: args.config, env, cwd: process.cwd(), uid: process.geteuid?.() ?? -1, gid: process.getegid?.(), now: Date.now, pid: process.pid }).catch((err: unknown) => ({ failed: err }))
    : Promise.resolve(false);
  void attempt.then(async (outcome) => {
    if (outcome === true) return;
    const cli = await loadCli();
    if (outcome === false) cli.run();
    else cli.runFailedBeat((outcome as { failed: unknown }).failed);
  });
}
