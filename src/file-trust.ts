import { lstatSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

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
 * Why writing files into the folder `dir` could let someone else choose what lands there or where
 * it goes, or null when it is fine: a link on the way to it (the folder itself or one above) owned
 * by another user (she chooses the folder), or a folder folderTrustProblem refuses, the folder or
 * one above it (she can swap what medic writes, or the folder itself, before root installs or reads it). A folder that does not exist is null: the write
 * fails on its own, with its own message.
 */
export function writeFolderProblem(dir: string, uid: number, gid?: number): string | null {
  let todo = resolve(dir).split('/').filter(Boolean);
  let at = '/';
  for (let hops = 0; todo.length > 0; ) {
    const name = todo.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      at = dirname(at);
      continue;
    }
    const next = join(at, name);
    let st: Stats;
    try {
      st = lstatSync(next);
    } catch {
      return null;
    }
    if (!st.isSymbolicLink()) {
      at = next;
      continue;
    }
    if (st.uid !== uid && st.uid !== 0) return `it is reached through the link ${next}, owned by uid ${st.uid}, neither the user running medic (uid ${uid}) nor root`;
    if (++hops > 40) return null; // a loop: the write fails with ELOOP
    const target = readlinkSync(next);
    if (target.startsWith('/')) at = '/';
    todo = [...target.split('/').filter(Boolean), ...todo];
  }
  try {
    statSync(at);
  } catch {
    return null;
  }
  // The real folder, and every folder above it (folderTrustProblem's rule).
  const found = folderTrustProblem(at, uid, writerGroup(uid, gid));
  return found && `the folder ${found.folder}: ${found.problem}`;
}

/**
 * Why another user could swap a file Medic writes into `folder` and later tells the user to use
 * (the crontab's backup, restored with `crontab <file>`), or null. The folder itself must pass
 * trustProblem: even a sticky world-writable one such as /tmp does not, since a file there can go
 * (a tmp cleaner, a reboot) and anyone may then plant one under its name. Every folder above must
 * pass it too, or be sticky and the user's or root's, with the entry below it the user's or root's
 * (then nobody else can rename that entry away). `folder` is a real path (no links on the way).
 * `ownGroup` as in trustProblem (writerGroup for the folders medic writes into for root).
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

/**
 * The group whose write trustProblem may accept in a folder medic writes into for root to install or
 * run (units, the crontab's backup, the textfile, a config): none for root, not even root's own
 * group, since a POSIX ACL that lets another user write shows in the mode only as group write (its
 * mask) and Node cannot read ACLs; root makes no group-writable folders of its own (umask 022).
 */
export function writerGroup(uid: number, gid: number | undefined): number | undefined {
  return uid === 0 ? undefined : gid;
}
