import { lstatSync, statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';

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

/**
 * Why another user could swap a file Medic writes into `folder` and later tells the user to use
 * (the crontab's backup, restored with `crontab <file>`), or null. The folder itself must pass
 * trustProblem: even a sticky world-writable one such as /tmp does not, since a file there can go
 * (a tmp cleaner, a reboot) and anyone may then plant one under its name. Every folder above must
 * pass it too, or be sticky and the user's or root's, with the entry below it the user's or root's
 * (then nobody else can rename that entry away). `folder` is a real path (no links on the way).
 */
export function folderTrustProblem(folder: string, uid: number, ownGroup?: number): { folder: string; problem: string } | null {
  const own = trustProblem(statSync(folder), uid, { ownGroup });
  if (own) return { folder, problem: own };
  for (let child = folder, dir = dirname(folder); child !== dir; child = dir, dir = dirname(dir)) {
    const st = statSync(dir);
    const above = trustProblem(st, uid, { ownGroup });
    if (above === null) continue;
    const entry = lstatSync(child);
    const sticky = (st.mode & 0o1000) !== 0 && (st.uid === uid || st.uid === 0) && (entry.uid === uid || entry.uid === 0);
    if (!sticky) return { folder: dir, problem: above };
  }
  return null;
}
