import { randomBytes } from 'node:crypto';
import { closeSync, constants, lstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import type { Config } from '../config.js';
import { checkerCrontabLine, medicCommand, shellWord, type Install } from '../crontab.js';
import { ConfigError, EXIT, MedicError, UsageError } from '../errors.js';
import { writeFolderProblem } from '../file-trust.js';
import { isLoopback } from '../serve/key.js';
import { keyRefOf, secretNoun } from '../notify/keys.js';
import { CHECK_SERVICE, CHECK_TIMER, credentialsDir, CREDSTORE, SERVE_SERVICE, systemdUnits, type UnitFile } from '../systemd.js';

export interface InitDeps extends Install {
  cwd: string;
  /** The shipped medic.schema.json, for editor completion through "$schema". */
  schemaPath: string;
  /** The user (and primary group) running medic: the config's folder must be theirs or root's. */
  uid: number;
  gid?: number;
}

export interface InitResult {
  file: string;
  /** What to do next, one line each, for the person who ran it. */
  lines: string[];
}

export const DEFAULT_FILE = 'medic.config.json';

export function starterConfig(schemaRef: string): string {
  const config = {
    $schema: schemaRef,
    $comment: [
      'Medic config. Every key is described in docs/configuration.md; medic.config.example.json shows them all.',
      'Durations: "90s", "5m", "1h30m", "2d" or a number of seconds. Priorities P1-P4 map to critical/error/warning/info.',
      'A service is down when no beat came for interval x threshold + grace. Routing keys never go in this file:',
      'the "oncall" target reads it from the environment variable PAGERDUTY_ROUTING_KEY. For cron, prefer',
      '"routingKeyFile": a file only the user that runs medic can read (mode 600) instead of "routingKeyEnv".',
    ],
    database: 'medic.db',
    defaults: { interval: '5m', grace: '1m', threshold: 1, priority: 'P3' },
    targets: { oncall: { type: 'pagerduty', routingKeyEnv: 'PAGERDUTY_ROUTING_KEY' } },
    services: [{ slug: 'nightly-backup', name: 'Nightly Backup', team: 'platform', priority: 'P2', interval: '24h', grace: '30m' }],
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/**
 * Writes a starter config (./medic.config.json, or the --config path) and says what to do next.
 * It never writes through a symbolic link: a new file is created exclusively (O_EXCL|O_NOFOLLOW);
 * with --force, a temporary file is renamed over the name, which replaces a link, not its target.
 */
export function init(input: { force: boolean; config?: string }, deps: InitDeps): InitResult {
  const file = resolve(deps.cwd, input.config ?? DEFAULT_FILE);
  if (['.js', '.mjs', '.cjs', '.ts'].includes(extname(file))) {
    throw new UsageError(`${file}: medic init writes a JSON config`, 'give a path ending in .json');
  }
  let schemaRef = relative(dirname(file), deps.schemaPath);
  if (!schemaRef.startsWith('.') && !schemaRef.startsWith('/')) schemaRef = `./${schemaRef}`;
  const text = starterConfig(schemaRef);
  // Root's checker reads this config every minute: a folder someone else can write (or chose through
  // a link of hers) lets her swap it, or the key file init advises putting beside it.
  const problem = writeFolderProblem(dirname(file), deps.uid, deps.gid);
  if (problem) {
    throw new MedicError(
      `refusing to write ${file}: ${problem}, so someone else could replace the config (or the key file beside it) that medic will trust`,
      EXIT.ioerr,
      'give --config a path in a folder only you (or root) can write, e.g. /etc/medic/medic.config.json (mkdir -m 755 /etc/medic)',
    );
  }
  if (input.force) replaceFile(file, text);
  else createFile(file, text);

  const run = (args: string[]) => medicCommand(deps, ['--config', file, ...args]);
  const keyFile = join(dirname(file), 'pagerduty.key');
  return {
    file,
    lines: [
      `Wrote ${file}. Edit its services, then:`,
      `1. Give medic the routing key in a file only the user that runs medic can read: write the Integration Key into`,
      `   ${keyFile}, chmod 600 it, and in the "oncall" target replace "routingKeyEnv" with "routingKeyFile": "pagerduty.key".`,
      '   (A PAGERDUTY_ROUTING_KEY=... line at the top of the crontab would hand the key to every job in it.)',
      '2. Add the checker to the crontab (every minute) with `crontab -e`:',
      `   ${checkerCrontabLine(deps, file)}`,
      `3. End each job with: ${run(['beat'])} <slug>`,
      `4. Check the PagerDuty side: ${run(['test-alert'])}`,
    ],
  };
}

const NEW_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

function createFile(file: string, text: string): void {
  let fd: number;
  try {
    fd = openSync(file, NEW_FILE, 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw cannotWrite(file, err);
    const link = isLink(file);
    throw new UsageError(
      link ? `${file} is a symbolic link; medic init does not write through links` : `${file} already exists`,
      link ? 'remove the link, or run `medic init --force` to replace the link itself with a new file' : 'run `medic init --force` to overwrite it, or edit it',
    );
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

function replaceFile(file: string, text: string): void {
  const tmp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    createFile(tmp, text);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err instanceof UsageError || err instanceof ConfigError ? err : cannotWrite(file, err);
  }
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

function cannotWrite(file: string, err: unknown): ConfigError {
  const e = err as NodeJS.ErrnoException;
  return new ConfigError(`cannot write ${file}: ${e.code ?? e.message}`, 'check that the folder exists and this user can write to it');
}

/** The user the units run medic as when root writes them: a user of its own, never root. */
export const DEDICATED_USER = 'medic';

/** What `medic init --systemd` needs besides the install: the config, if one is found. */
export interface SystemdDeps extends Install {
  cwd: string;
  /** The config the units will use (the --config path or the search), or null when there is none yet. */
  loadConfig: () => Promise<Config | null>;
  /** The user running init: the units run medic as this user. */
  user: string;
  uid: number;
  /** Its primary group (see trustProblem). */
  gid?: number;
}

export interface SystemdResult {
  /** The files written (empty with --print). */
  written: string[];
  units: UnitFile[];
  /** What to do next, one line each. */
  lines: string[];
}

/**
 * Writes (or, with print, only returns) medic-check.service, medic-check.timer and
 * medic-serve.service for this install and config: never a config. Without force it refuses when
 * any of the three exists, before writing one; it never writes through a link (as init).
 */
export async function initSystemd(input: { force: boolean; print: boolean; dir?: string; config?: string }, deps: SystemdDeps): Promise<SystemdResult> {
  const config = await deps.loadConfig();
  const configFile = config?.file ?? resolve(deps.cwd, input.config ?? DEFAULT_FILE);
  const secretFiles = config ? secretFilesOf(config) : [];
  // No config yet: `medic init` would put the database beside it.
  const writable = !config ? [dirname(configFile)] : config.databaseUrl ? [] : [dirname(config.databasePath), ...(config.spool ? [config.spool] : [])];
  // Never root: medic serve answers the network, and check and serve write the same database, so
  // both run as one user that owns it. Run by root, that is a dedicated user (DEDICATED_USER).
  const user = deps.uid === 0 ? DEDICATED_USER : deps.user;
  const units = systemdUnits({ nodePath: deps.nodePath, binPath: deps.binPath, configFile, user, writable, secretFiles });

  const notes: string[] = [];
  if (!config) notes.push(`No config found: the units use ${configFile}, which must exist before they start (\`medic init\` writes one, with the database beside it, which the units may write; or pass --config <path>).`);
  if (deps.uid === 0) {
    notes.push(
      `These units run medic as the user ${DEDICATED_USER}, not root. Create it (useradd --system --user-group --no-create-home ${DEDICATED_USER}), ` +
        `let it read the config${writable.length > 0 ? ` and give it the database folder (chown -R ${DEDICATED_USER}: ${writable.map(shellWord).join(' ')})` : ''}; ` +
        'or run `medic init --systemd` as the user that owns them (docs/systemd.md).',
    );
  }
  for (const [variable, what] of config ? secretVariables(config) : []) {
    notes.push(
      `The config reads ${what} from $${variable}, which a unit does not have. Put it in a root-only file instead: ` +
        `install -m 600 /dev/null ${CREDSTORE}/<name>, write the secret there, point the setting at ${credentialsDir(CHECK_SERVICE)}/<name> ` +
        `(${credentialsDir(SERVE_SERVICE)}/<name> for medic serve's ping key), and run \`medic init --systemd --force\` again (docs/systemd.md).`,
    );
  }

  // [ecosystem] The view key comes only from a variable; a unit has it through a root-only EnvironmentFile=.
  if (config?.serve.configured && config.serve.viewKeyEnv && !isLoopback(config.serve.host)) {
    const v = config.serve.viewKeyEnv;
    notes.push(
      `The config reads the status page's view key from $${v}, which ${SERVE_SERVICE} does not have. Give it through a root-only file: ` +
        `install -m 600 /dev/null /etc/medic/${SERVE_SERVICE.replace(/\.service$/, '')}.env, write ${v}=<the key> into it, and add ` +
        `EnvironmentFile=/etc/medic/${SERVE_SERVICE.replace(/\.service$/, '')}.env under [Service] with \`systemctl edit ${SERVE_SERVICE}\` (docs/systemd.md).`,
    );
  }

  if (input.print) return { written: [], units, lines: notes };

  const dir = resolve(deps.cwd, input.dir ?? '.');
  // Root copies these files into /etc/systemd/system: whoever else can write the folder, or chose it
  // through a link of hers, could swap a unit's ExecStart for her own before that.
  const problem = writeFolderProblem(dir, deps.uid, deps.gid);
  if (problem) {
    throw new MedicError(
      `refusing to write the units into ${dir}: ${problem}, so someone else could replace a unit before it is installed`,
      EXIT.ioerr,
      'give --dir a folder only you (or root) can write, reached through no link of another user, or use --print',
    );
  }
  const files = units.map((u) => join(dir, u.name));
  if (!input.force) {
    const taken = files.find((f) => exists(f));
    if (taken) {
      throw new UsageError(
        isLink(taken) ? `${taken} is a symbolic link; medic init does not write through links` : `${taken} already exists`,
        'run `medic init --systemd --force` to replace the unit files, or choose another --dir',
      );
    }
  }
  units.forEach((u, i) => (input.force ? replaceFile(files[i]!, u.text) : createFile(files[i]!, u.text)));
  return {
    written: files,
    units,
    lines: [
      `Wrote ${files.join(', ')}: medic runs as ${user} with the config ${configFile}.`,
      'Install them as root:',
      `  cp ${files.map(shellWord).join(' ')} /etc/systemd/system/`,
      '  systemctl daemon-reload',
      `  systemctl enable --now ${CHECK_TIMER}`,
      `  systemctl enable --now ${SERVE_SERVICE}    # only if this machine runs medic serve`,
      `Then remove the \`medic check\` line from the crontab, if there is one (the timer replaces it), and see it run: systemctl list-timers ${CHECK_TIMER}; journalctl -u ${CHECK_SERVICE}`,
      ...notes,
    ],
  };
}

/** Every file the config reads a secret from. */
function secretFilesOf(config: Config): string[] {
  const files = [...config.targets.values()].map(keyRefOf).filter((r) => r.startsWith('file:')).map((r) => r.slice(5));
  if (config.serve.configured && config.serve.pingKeyFile) files.push(config.serve.pingKeyFile);
  if (config.passwordFile) files.push(config.passwordFile);
  return files;
}

/** The variables the config reads secrets from, with what each holds. */
function secretVariables(config: Config): [string, string][] {
  const out = new Map<string, string>();
  for (const t of config.targets.values()) {
    const ref = keyRefOf(t);
    if (ref.startsWith('env:')) out.set(ref.slice(4), `the ${secretNoun(t)} of target ${t.name}`);
  }
  if (config.serve.configured && config.serve.pingKeyEnv) out.set(config.serve.pingKeyEnv, "medic serve's ping key");
  return [...out];
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
