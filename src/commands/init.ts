import { randomBytes } from 'node:crypto';
import { closeSync, constants, lstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { checkerCrontabLine, medicCommand, type Install } from '../crontab.js';
import { ConfigError, UsageError } from '../errors.js';

export interface InitDeps extends Install {
  cwd: string;
  /** The shipped medic.schema.json, for editor completion through "$schema". */
  schemaPath: string;
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
