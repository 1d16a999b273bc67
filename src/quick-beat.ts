/**
 * `medic beat` with an explicit JSON config, as one self-contained module. The build bundles this
 * entry on its own (scripts/build.mjs), so a beat loads one file of ours instead of the chunks the
 * other commands share: on the path of every job, each module load is a measurable share of the
 * start-up (BENCHMARKS.md).
 */
import { quickBeatTarget, recordBeat } from './commands/beat.js';
import { openSqliteStore } from './store/sqlite.js';

/** Records the beat and returns true, or returns false when the quick path does not apply. */
export async function quickBeat(slug: string, configPath: string | undefined, env: NodeJS.ProcessEnv, cwd: string, now: () => number): Promise<boolean> {
  const target = quickBeatTarget({ path: configPath, cwd, env }, slug);
  if (!target) return false;
  await recordBeat(openSqliteStore(target.databasePath), slug, now());
  return true;
}
