/**
 * The spool: beats as files in a folder that only the checker reads (SPEC §8). With `"spool"` set
 * in the config, `medic beat` never opens the database: it creates one file named
 * `<slug>.<epoch-ms>.<pid>.<random>` in the spool folder (empty: a plain beat), or
 * `<slug>.<epoch-ms>.<pid>.<random>-<kind>` for a signal (`-start`, `-fail`, `-ok` for a success
 * with details), its details as JSON inside, so a job's user needs write access to that folder
 * only (mode 1733, or 1770 with a group, owned by the checker's user), not to the checker's
 * database. `medic check` then ingests the folder before it evaluates.
 *
 * Every entry is untrusted input: a plain beat's content is never read, a signal's only as a
 * regular file opened without following links or blocking, at most SPOOL_DETAILS_MAX_BYTES of it;
 * its time is capped at the check's now, and each run handles a bounded number.
 */
import { chmodSync, closeSync, constants, fchmodSync, fstatSync, lstatSync, mkdirSync, opendirSync, openSync, readSync, rmdirSync, type Stats, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { jsonObject } from './core/json.js';
import type { SignalDetails, SignalKind } from './core/signal.js';
import { boundDetails, hasDetails } from './core/signal-bounds.js';
import { isSlug } from './core/slug.js';
import { DatabaseError, DataError, redactJobText } from './errors.js';
import type { Store } from './store/types.js';

/** At most this many entries are looked at per check run; the rest wait for the next run. */
export const SPOOL_MAX_PER_RUN = 10_000;
/** What one run looks at, beats or not, is at most this many times SPOOL_MAX_PER_RUN. */
const SPOOL_EXAMINE_FACTOR = 10;
/** The mode `medic check` gives a spool folder it creates: anyone may add a file, only its owner (or the checker) remove it, nobody list it. */
export const SPOOL_MODE = 0o1733;
/**
 * `<slug>.<epoch-ms>.<pid>.<random>[-<kind>]`; the last three parts hold no dot, so the slug is
 * what is left, and the random part no dash, so a kind cannot be read into it.
 */
const ENTRY_NAME = /^([a-z0-9][a-z0-9._-]{0,63})\.(\d{1,15})\.(\d{1,10})\.([a-z0-9]{1,16})(?:-(start|fail|ok))?$/;
/** The most of a signal entry's content the checker reads: the bounded details (core/signal.ts) as JSON, with room. */
export const SPOOL_DETAILS_MAX_BYTES = 80 * 1024;
const HOW_TO_SET_UP = 'the spool folder must be a real folder owned by the checker\'s user (or root), mode 1733 (or 1770 with a group of job users): `install -d -m 1733 <folder>`';

/** For `medic beat`: records the beat (or the signal, its details inside) as one new file in the spool folder. Returns its name. */
export function writeSpoolEntry(dir: string, slug: string, at: number, pid: number, signal?: { kind: SignalKind } & SignalDetails): string {
  // The caller checked the slug rule already; a name must never hold a path separator all the same.
  if (!isSlug(slug)) throw new DataError(`not a valid slug: ${JSON.stringify(slug)}`);
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch (err) {
    throw spoolError(dir, err as NodeJS.ErrnoException);
  }
  const problem = folderProblem(st);
  if (problem) throw new DatabaseError(`cannot use spool folder ${dir}: ${problem}`, HOW_TO_SET_UP);
  const content = signal ? detailsJson(signal) : '';
  // A success without details is a plain beat: an empty file, as before signals.
  const suffix = signal && (signal.kind !== 'ok' || content !== '') ? `-${signal.kind}` : '';
  for (let attempt = 0; ; attempt++) {
    const name = `${slug}.${at}.${pid}.${Math.random().toString(36).slice(2, 10) || '0'}${suffix}`;
    try {
      // O_EXCL|O_NOFOLLOW: never write through a file or link someone else put there.
      const fd = openSync(join(dir, name), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        const bytes = Buffer.from(content, 'utf8');
        for (let n = 0; n < bytes.length; ) n += writeSync(fd, bytes, n);
        // Details are read by the checker. A folder root owns is checked by root, which reads a
        // private file; a folder another user owns is checked by that user: readable, whatever the
        // umask, and only those who can list the folder (the checker; with mode 1770, its group:
        // docs/security.md says so) can find the name.
        if (bytes.length > 0 && st.uid !== 0) fchmodSync(fd, 0o644);
      } finally {
        closeSync(fd);
      }
      return name;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 5) continue;
      throw spoolError(dir, err as NodeJS.ErrnoException);
    }
  }
}

/**
 * A signal's details as the entry's content: cut to their bounds, then the output shortened further
 * while the JSON (whose escapes can make text six times longer) is over what the checker reads.
 * Empty when there are none.
 */
function detailsJson(signal: SignalDetails): string {
  let d = boundDetails(signal);
  if (!hasDetails(d)) return '';
  const json = () => JSON.stringify(Object.fromEntries(Object.entries(d).filter(([, v]) => v !== null)));
  for (let bytes = SPOOL_DETAILS_MAX_BYTES; Buffer.byteLength(json()) > SPOOL_DETAILS_MAX_BYTES; bytes = Math.floor(bytes / 2)) {
    d = boundDetails({ ...d, outputTail: d.outputTail }, bytes);
  }
  return json();
}

function spoolError(dir: string, err: NodeJS.ErrnoException): DatabaseError {
  if (err.code === 'ENOENT') {
    return new DatabaseError(`cannot write into spool folder ${dir}: it does not exist`, `run \`medic check\` once as the checker's user (it creates the folder), or create it: ${HOW_TO_SET_UP}`);
  }
  if (err.code === 'EACCES' || err.code === 'EPERM') {
    return new DatabaseError(`cannot write into spool folder ${dir}: permission denied`, `the job's user needs write access to the spool folder; ${HOW_TO_SET_UP}`);
  }
  return new DatabaseError(`cannot write into spool folder ${dir}: ${err.message}`, HOW_TO_SET_UP);
}

/** What makes a folder unfit as a spool for everyone: a link, not a folder, or writable by others who could delete others' beats. */
function folderProblem(st: Pick<Stats, 'mode' | 'isSymbolicLink' | 'isDirectory'>): string | null {
  if (st.isSymbolicLink()) return 'it is a symbolic link; give the real folder';
  if (!st.isDirectory()) return 'it is not a folder';
  if (st.mode & 0o022 && !(st.mode & 0o1000)) return "other users can write it and it lacks the sticky bit, so any of them could delete others' beats (chmod +t it)";
  return null;
}

export interface SpoolDeps {
  store: Store;
  /** The configured services: beats for any other slug are deleted. */
  services: ReadonlyMap<string, unknown>;
  /** The check's now: no beat is recorded later than this. */
  now: number;
  /** Beats older than this long ago are deleted unrecorded (the check would prune them at once). */
  retentionMs: number;
  /** The user running the check: the spool must be theirs or root's. */
  uid: number;
  verbose: (line: string) => void;
  notice: (line: string) => void;
  /** Routing keys to hide in a signal's message and output (what a job user wrote). */
  keysToHide?: string[];
  /** Entries handled per run (SPOOL_MAX_PER_RUN). */
  maxEntries?: number;
}

export interface SpoolReport {
  recorded: number;
  /** Signals recorded without their details: content not a regular file, over SPOOL_DETAILS_MAX_BYTES, or not the JSON expected. */
  undetailed: number;
  /** Recorded at the check's now because their name said a later time. */
  capped: number;
  /** Deleted unrecorded: older than the retention, or not newer than the service's last beat. */
  stale: number;
  /** Deleted: valid names for slugs that are not in the config. */
  unknown: Map<string, number>;
  /** Deleted: names that are not `<slug>.<epoch-ms>.<pid>.<random>`, links, folders, devices, pipes. */
  junk: number;
  /** Left for the next run (over the per-run limit, or a folder that is not empty). */
  waiting: number;
}

/**
 * For `medic check`, before it evaluates: records each spool entry as a beat and deletes it.
 * A missing spool folder is created (mode 1733). A spool folder that is a link, not the checker's
 * (or root's), or writable by others without the sticky bit is refused (74): anyone could delete
 * others' beats, or point the checker at another folder.
 */
export async function ingestSpool(dir: string, deps: SpoolDeps): Promise<SpoolReport> {
  const report: SpoolReport = { recorded: 0, undetailed: 0, capped: 0, stale: 0, unknown: new Map(), junk: 0, waiting: 0 };
  if (!checkSpoolFolder(dir, deps)) return report;
  const max = deps.maxEntries ?? SPOOL_MAX_PER_RUN;
  const beats: { slug: string; at: number; kind: SignalKind | null; path: string; st: Stats }[] = [];
  const folder = opendirSync(dir);
  try {
    // Only beats count against the per-run limit: entries that stay behind whatever the checker does
    // (a folder that is not empty) would otherwise fill it, in the same listing order, every run.
    // Everything else is bounded by a looser limit on what one run looks at.
    let seen = 0;
    let examined = 0;
    for (let entry = folder.readSync(); entry !== null; entry = folder.readSync()) {
      if (seen >= max || examined >= max * SPOOL_EXAMINE_FACTOR) {
        report.waiting++;
        continue;
      }
      examined++;
      const path = join(dir, entry.name);
      let st: Stats;
      try {
        st = lstatSync(path); // never stat: a link is judged as a link, not as what it points at
      } catch {
        continue; // gone already
      }
      const name = ENTRY_NAME.exec(entry.name);
      if (!st.isFile() || !name) {
        if (remove(path, st)) report.junk++;
        else report.waiting++;
        continue;
      }
      const slug = name[1]!;
      if (!isSlug(slug) || !deps.services.has(slug)) {
        remove(path, st);
        report.unknown.set(slug, (report.unknown.get(slug) ?? 0) + 1);
        continue;
      }
      let at = Number(name[2]);
      if (at > deps.now) {
        at = deps.now;
        report.capped++;
      }
      if (at < deps.now - deps.retentionMs) {
        remove(path, st);
        report.stale++;
        continue;
      }
      seen++;
      beats.push({ slug, at, kind: (name[5] as SignalKind | undefined) ?? null, path, st });
    }
  } finally {
    folder.closeSync();
  }
  // Oldest first (in one millisecond, a run's start before its end), and none older than the
  // service's last success: a late entry must not move it back, nor a start or failure older than
  // that success undo it.
  beats.sort((a, b) => a.at - b.at || Number(b.kind === 'start') - Number(a.kind === 'start'));
  const lastBeat = new Map((await deps.store.services()).map((s) => [s.slug, s.lastBeatAt]));
  for (const b of beats) {
    const last = lastBeat.get(b.slug);
    if (last !== undefined && last !== null && b.at <= last) {
      report.stale++;
    } else if (b.kind === null) {
      await deps.store.recordBeat(b.slug, b.at);
      lastBeat.set(b.slug, b.at);
      report.recorded++;
    } else {
      const read = readDetails(b.path, b.st);
      if (read === null) report.undetailed++;
      const details = read && redactJobText(read, deps.keysToHide ?? []);
      await deps.store.recordBeat(b.slug, b.at, { kind: b.kind, ...details });
      if (b.kind === 'ok') lastBeat.set(b.slug, b.at);
      report.recorded++;
    }
    // After recording: a run killed in between records the beat again next time, never loses it.
    unlinkQuietly(b.path);
  }
  say(report, deps);
  return report;
}

/**
 * A signal entry's details, read with the distrust due to a file anyone may have written: a
 * regular file (the one listed: a link or a FIFO swapped in meanwhile is neither followed nor
 * waited on), at most SPOOL_DETAILS_MAX_BYTES, a JSON object whose known fields have the right
 * types (others are ignored). {} for an empty file; null when it could not be used.
 */
function readDetails(path: string, listed: Stats): SignalDetails | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  let text: string;
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.ino !== listed.ino || st.dev !== listed.dev) return null;
    const buf = Buffer.allocUnsafe(SPOOL_DETAILS_MAX_BYTES + 1);
    let n = 0;
    for (let read = -1; read !== 0 && n < buf.length; n += read) read = readSync(fd, buf, n, buf.length - n, null);
    if (n > SPOOL_DETAILS_MAX_BYTES) return null;
    if (n === 0) return {};
    text = buf.toString('utf8', 0, n); // a bad byte becomes U+FFFD
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
  const r = jsonObject(text);
  if (!r) return null;
  const string = (v: unknown) => (typeof v === 'string' ? v : null);
  const number = (v: unknown) => (typeof v === 'number' ? v : null);
  // The store cuts them to their bounds.
  return { exitCode: number(r.exitCode), durationMs: number(r.durationMs), message: string(r.message), outputTail: string(r.outputTail) };
}

/** True when the folder can be ingested; false when it did not exist (now created, empty). Throws when it is refused. */
function checkSpoolFolder(dir: string, deps: SpoolDeps): boolean {
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new DatabaseError(`cannot read spool folder ${dir}: ${(err as Error).message}`, HOW_TO_SET_UP);
    try {
      mkdirSync(dir, { mode: 0o700 });
      chmodSync(dir, SPOOL_MODE); // mkdir's mode is cut by the umask
    } catch (e) {
      throw new DatabaseError(`cannot create spool folder ${dir}: ${(e as Error).message}`, HOW_TO_SET_UP);
    }
    deps.notice(`created spool folder ${dir} (mode 1733: every user can add beats; only the checker can list them or remove others')`);
    return false;
  }
  const problem = folderProblem(st) ?? ownerProblem(st, deps.uid) ?? parentProblem(dirname(dir));
  if (problem) throw new DatabaseError(`refusing spool folder ${dir}: ${problem}; no beat was taken from it`, HOW_TO_SET_UP);
  return true;
}

function ownerProblem(st: Stats, uid: number): string | null {
  return st.uid === uid || st.uid === 0 ? null : `it is owned by uid ${st.uid}, neither the user running medic (uid ${uid}) nor root, so that user could swap or empty it`;
}

/** Whoever can rename entries of the parent could replace the spool with another folder. */
function parentProblem(parent: string): string | null {
  try {
    const st = lstatSync(parent);
    return st.mode & 0o022 && !(st.mode & 0o1000) ? `its parent folder ${parent} is writable by other users without the sticky bit, so they could replace the spool` : null;
  } catch {
    return null;
  }
}

/** Removes an entry without following it; a folder only when empty. False when it had to stay. */
function remove(path: string, st: Stats): boolean {
  try {
    if (st.isDirectory()) rmdirSync(path);
    else unlinkSync(path);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Gone already (another check cannot run at the same time; a person may have removed it).
  }
}

function say(r: SpoolReport, deps: SpoolDeps): void {
  const entries = (n: number) => `${n} spool entr${n === 1 ? 'y' : 'ies'}`;
  if (r.unknown.size > 0) {
    const n = [...r.unknown.values()].reduce((a, b) => a + b, 0);
    const slugs = [...r.unknown.keys()].slice(0, 5).join(', ');
    deps.notice(`deleted ${entries(n)} for services not in the config: ${slugs}${r.unknown.size > 5 ? `, and ${r.unknown.size - 5} more` : ''}`);
  }
  if (r.junk > 0) deps.notice(`deleted ${entries(r.junk)} that ${r.junk === 1 ? 'is' : 'are'} not beats (names not <slug>.<epoch-ms>.<pid>.<random>, links, folders or special files); their contents were not read`);
  if (r.capped > 0) deps.notice(`${entries(r.capped)} carried a time after now; recorded at now instead`);
  if (r.recorded > 0) deps.verbose(`recorded ${r.recorded} beat${r.recorded === 1 ? '' : 's'} from the spool`);
  if (r.undetailed > 0) {
    deps.verbose(
      `recorded ${entries(r.undetailed)} without ${r.undetailed === 1 ? 'its' : 'their'} details (message, exit code, output): not a regular file, over ${SPOOL_DETAILS_MAX_BYTES / 1024} KiB, or not a JSON object`,
    );
  }
  if (r.stale > 0) deps.verbose(`deleted ${entries(r.stale)} older than the retention or than the service's last beat, unrecorded`);
  if (r.waiting > 0) deps.verbose(`${entries(r.waiting)} wait for the next run (at most ${deps.maxEntries ?? SPOOL_MAX_PER_RUN} are handled per run)`);
}
