import type { Stats } from 'node:fs';

/**
 * Why a file or folder Medic is about to trust (a config, a key file, the database's folder) could
 * have been planted or changed by someone else, or null when it is fine. Medic often runs as root
 * from cron (SPEC §8): it trusts only what the user running it or root owns, and what other users
 * cannot write. `groupWritable` allows group write (a shared database folder, `databaseMode: "0660"`).
 * The uid comes from the caller (cli.ts reads the process).
 */
export function trustProblem(st: Pick<Stats, 'uid' | 'mode'>, uid: number, opts: { groupWritable?: boolean } = {}): string | null {
  if (st.uid !== uid && st.uid !== 0) return `it is owned by uid ${st.uid}, neither the user running medic (uid ${uid}) nor root`;
  if (st.mode & 0o002) return 'every user on this machine can write it';
  if (!opts.groupWritable && st.mode & 0o020) return 'its group can write it';
  return null;
}
