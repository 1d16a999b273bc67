import type { Stats } from 'node:fs';

/**
 * Why a file or folder Medic is about to trust (a config, a key file, the database's folder) could
 * have been planted or changed by someone else, or null when it is fine. Medic often runs as root
 * from cron (SPEC §8): it trusts only what the user running it or root owns, and what other users
 * cannot write. `groupWritable` allows group write (a shared database folder, `databaseMode: "0660"`).
 * Group write is also fine when the group is `ownGroup`, the primary group of the user running
 * medic: with user private groups (Debian and Ubuntu's default, umask 002) every folder a user makes
 * is group-writable, but the group is that user alone. The ids come from the caller (cli.ts reads
 * the process).
 */
export function trustProblem(st: Pick<Stats, 'uid' | 'gid' | 'mode'>, uid: number, opts: { groupWritable?: boolean; ownGroup?: number } = {}): string | null {
  if (st.uid !== uid && st.uid !== 0) return `it is owned by uid ${st.uid}, neither the user running medic (uid ${uid}) nor root`;
  if (st.mode & 0o002) return 'every user on this machine can write it';
  if (!opts.groupWritable && st.mode & 0o020 && st.gid !== opts.ownGroup) return 'its group can write it';
  return null;
}
