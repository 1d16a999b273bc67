import { closeSync, constants, fchmodSync, fsyncSync, lstatSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Config } from '../config.js';
import { EXIT, MedicError, UsageError } from '../errors.js';
import { writeFolderProblem } from '../file-trust.js';
import { stateFamilies, type MetricFamily, type MetricState, type ServiceMetrics } from '../core/metrics.js';
import type { Store } from '../store/types.js';
import { status, type ServiceStatus } from './status.js';

export interface MetricsDeps {
  config: Config;
  store: Store;
  now: () => number;
  /** Medic's version, for medic_build_info. */
  version: string;
}

/**
 * The state as metric families: the rows `medic status` computes (its evaluation, not another),
 * per configured target its pending and refused events, and the last check's time and duration.
 */
export async function metricsFamilies(deps: MetricsDeps): Promise<MetricFamily[]> {
  // A store with a clock of its own (PostgreSQL) is the clock, as for a check: serve's scrapes too.
  const at = (await deps.store.clock()) ?? deps.now();
  const report = await status({ slugs: [] }, { config: deps.config, store: deps.store, now: () => at });
  const names = [...deps.config.targets.keys()];
  const counts = await deps.store.targetDeliveries(names);
  return stateFamilies({
    version: deps.version,
    services: report.rows.map((row) => serviceMetrics(row, at)),
    targets: names.map((name) => ({ name, pending: counts.get(name)?.pending ?? 0, refused: counts.get(name)?.refused ?? 0 })),
    lastCheckAt: report.lastCheckAt,
    lastCheckDurationMs: await deps.store.lastCheckDurationMs(),
  });
}

/** A status row as metrics: its state folded into up, late, down or paused (see MetricState). */
export function serviceMetrics(row: ServiceStatus, now: number): ServiceMetrics {
  const down = row.downReason !== null;
  return {
    slug: row.slug,
    team: row.team,
    priority: row.priority,
    state: metricState(row, down, now),
    down,
    paused: row.muted !== null,
    lastBeatAt: row.lastSeen === null ? null : Date.parse(row.lastSeen),
    deadlineAt: Date.parse(row.deadline),
    missedHeartbeats: row.missedHeartbeats,
    incidentOpen: row.incidentOpen,
  };
}

function metricState(row: ServiceStatus, down: boolean, now: number): MetricState {
  if (row.muted !== null) return 'paused';
  if (down) return 'down';
  switch (row.state) {
    case 'up':
    case 'new':
      return 'up';
    case 'late':
      return 'late';
    default:
      // flapping or running: status shows that instead; underneath it is up or late by the same lateAt.
      return now >= Date.parse(row.lateAt) ? 'late' : 'up';
  }
}

/**
 * Writes `text` to `path` for node_exporter's textfile collector, atomically: a temp file in the
 * same folder (`.<name>.<pid>.tmp`, created new, never through a link: O_EXCL | O_NOFOLLOW),
 * mode 0644, fsynced, renamed over the path. A reader sees the old file or the new one, never a
 * part. A link at the path is refused (rename would replace the link, not what it points to, and
 * whoever planted it meant something else). The folder must be one only the user running medic
 * (or root) can write, reached through no link of another user (writeFolderProblem): else she
 * chooses where a root run writes, or swaps the file between the rename and the collector's read.
 */
export function writeTextfile(path: string, text: string, pid: number, ids: { uid: number; gid?: number }): void {
  if (!path.endsWith('.prom') || basename(path) === '.prom') {
    throw new UsageError(`--textfile ${path}: node_exporter's textfile collector reads only files whose name ends in .prom`, 'give a path like /var/lib/prometheus/node-exporter/medic.prom');
  }
  const dir = dirname(path);
  const folder = statOrNull(dir);
  if (!folder || !folder.isDirectory()) {
    throw new MedicError(
      `--textfile ${path}: the folder ${dir} ${folder ? 'is not a folder' : 'does not exist'}`,
      EXIT.ioerr,
      `create it (mkdir -p ${dir}) or give the folder node_exporter reads (its --collector.textfile.directory)`,
    );
  }
  const problem = writeFolderProblem(dir, ids.uid, ids.gid);
  if (problem) {
    throw new MedicError(
      `--textfile ${path}: refusing to write there: ${problem}, so someone else could choose or replace what medic writes`,
      EXIT.ioerr,
      'give a folder only this user (or root) can write, reached through no link of another user (node_exporter only needs to read it)',
    );
  }
  const existing = lstatOrNull(path);
  if (existing?.isSymbolicLink()) {
    throw new MedicError(`--textfile ${path}: it is a symbolic link; medic writes only a file of its own there`, EXIT.ioerr, 'remove the link, or give the path of the file itself');
  }
  if (existing && !existing.isFile()) throw new MedicError(`--textfile ${path}: it is not a regular file`, EXIT.ioerr, 'give the path of a .prom file');
  const temp = join(dir, `.${basename(path)}.${pid}.tmp`);
  let fd: number;
  try {
    fd = openTemp(temp);
  } catch (err) {
    throw ioError(path, `cannot create ${temp}`, err);
  }
  try {
    fchmodSync(fd, 0o644);
    const bytes = Buffer.from(text, 'utf8');
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkQuietly(temp);
    throw ioError(path, `cannot write ${temp}`, err);
  }
  closeSync(fd);
  try {
    renameSync(temp, path);
  } catch (err) {
    unlinkQuietly(temp);
    throw ioError(path, `cannot rename ${temp} over it`, err);
  }
}

/** The temp file, new. One left by a run of the same pid that died (or planted) is removed once and the open tried again. */
function openTemp(temp: string): number {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  try {
    return openSync(temp, flags, 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // unlink removes a link itself, never what it points to.
    unlinkSync(temp);
    return openSync(temp, flags, 0o644);
  }
}

function ioError(path: string, what: string, err: unknown): MedicError {
  const code = (err as NodeJS.ErrnoException).code ?? String(err);
  return new MedicError(`--textfile ${path}: ${what} (${code})`, EXIT.ioerr, 'run medic metrics as a user that can write that folder, or give another path');
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

function statOrNull(path: string) {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

function lstatOrNull(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}
