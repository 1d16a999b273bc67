import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Config, Target } from '../config.js';
import { roughDuration } from '../core/duration.js';
import { EXIT, MedicError, urlForDisplay } from '../errors.js';
import type { Sender } from '../notify/http.js';
import { describeKeyRef, keyRefOf, readKey } from '../notify/keys.js';
import { SCHEMA_VERSION } from '../store/migrations.js';
import type { Store } from '../store/types.js';
import { testAlert } from './test-alert.js';

export type Level = 'ok' | 'warn' | 'fail';

export interface Finding {
  check: string;
  ok: boolean;
  level: Level;
  detail: string;
  fix?: string;
}

/** What `crontab -l` gave: the text, no crontab for this user, no `crontab` program, or another failure. */
export type CrontabRead =
  | { kind: 'text'; text: string }
  | { kind: 'none'; message: string }
  | { kind: 'not-installed' }
  | { kind: 'error'; message: string };

/** What probing an events URL found (notify/http.ts probeEventsUrl); `fix` replaces the generic network hint. */
export type ReachResult = { ok: true; status: number; said?: string } | { ok: false; error: string; fix?: string };

/** The little of the store doctor needs. */
export type DoctorStore = Pick<Store, 'releaseLock' | 'lastCheckAt' | 'schemaVersion' | 'close'>;

export interface DoctorDeps {
  /** Finds and validates the config; throws a ConfigError when it is missing or invalid. */
  loadConfig: () => Promise<Config>;
  openStore: (path: string) => DoctorStore | Promise<DoctorStore>;
  env: NodeJS.ProcessEnv;
  now: () => number;
  readCrontab: () => Promise<CrontabRead>;
  reach: (url: string, timeoutMs: number) => Promise<ReachResult>;
  send: Sender;
  sleep: (ms: number) => Promise<void>;
}

export interface DoctorResult {
  findings: Finding[];
  exitCode: number;
}

/** PagerDuty Events API v2 Integration Keys are 32 characters. */
export const KEY_LENGTH = 32;
/** `medic check` runs every minute; older than this, a run was missed. */
export const STALE_CHECK_MS = 2 * 60_000;
const DB_FIX = 'check that the database path, its folder and the disk are usable by this user';
/** An owner no checker can have (theirs are `pid@host`), so releasing its lock changes no row. */
const PROBE_OWNER = 'medic-doctor-write-probe';

/*
 * Exit code: 0 when nothing failed (warnings do not fail), else the SPEC §6 code of the first
 * failing area, in the order the checks run:
 *   config 78 · database 74 · routing keys 78 · events URL 75 (with --send-test: the test alert's
 *   own code, 75 / 76 / 78) · crontab 78 (the machine is not set up to run the checker: a
 *   configuration problem, like an unset key) · last check run 75 (never ran: often cron simply
 *   has not reached its first minute yet; try again later).
 */

/**
 * Checks everything a working Medic needs and says what to fix: config, database, every target's
 * routing key, the events URLs (or, with sendTest, the guide's test trigger and resolve), the
 * crontab line that runs `medic check`, and when that last ran. Never prints a routing key.
 */
export async function doctor(input: { sendTest: boolean }, deps: DoctorDeps): Promise<DoctorResult> {
  const found: { finding: Finding; code: number }[] = [];
  const add = (code: number, check: string, level: Level, detail: string, fix?: string) =>
    found.push({ finding: { check, ok: level === 'ok', level, detail, ...(fix !== undefined && { fix }) }, code });
  const skip = (check: string, needs: string) => add(EXIT.ok, check, 'warn', `not checked: needs ${needs}`, `fix the ${needs} first, then run medic doctor again`);

  let config: Config | null = null;
  try {
    config = await deps.loadConfig();
    add(EXIT.config, 'config', 'ok', `${config.file}: valid, ${plural(config.services.length, 'service')}, ${plural(config.targets.size, 'target')}`);
  } catch (err) {
    if (!(err instanceof MedicError)) throw err;
    add(EXIT.config, 'config', 'fail', err.message, err.hint ?? '`medic init` writes a starter config');
  }

  let store: DoctorStore | null = null;
  try {
    if (config) {
      store = await checkDatabase(config.databasePath, deps, add);
    } else {
      skip('database', 'a valid config');
    }

    const keysOk = new Set<string>();
    if (config) {
      for (const target of config.targets.values()) if (checkKey(target, deps.env, add)) keysOk.add(target.name);
    } else {
      skip('routing keys', 'a valid config');
    }

    if (!config) skip(input.sendTest ? 'test alert' : 'events URL', 'a valid config');
    else if (input.sendTest) await sendTests(config, keysOk, deps, add);
    else await checkReach(config, deps, add);

    await checkCrontab(config, deps, add);

    if (config && store) await checkLastRun(store, config.file, deps.now(), add);
    else skip('last check', config ? 'a working database' : 'a valid config');
  } finally {
    store?.close();
  }

  const firstFail = found.find((f) => f.finding.level === 'fail');
  return { findings: found.map((f) => f.finding), exitCode: firstFail ? firstFail.code : EXIT.ok };
}

type Add = (code: number, check: string, level: Level, detail: string, fix?: string) => void;

/** Opens (creating and migrating if needed) and write-probes the database; returns it open, or null. */
async function checkDatabase(path: string, deps: DoctorDeps, add: Add): Promise<DoctorStore | null> {
  const existed = existsSync(path);
  let store: DoctorStore;
  try {
    store = await deps.openStore(path);
  } catch (err) {
    if (!(err instanceof MedicError)) throw err;
    add(EXIT.ioerr, 'database', 'fail', err.message, err.hint ?? DB_FIX);
    return null;
  }
  try {
    // An UPDATE that matches no row still needs SQLite's write lock and a writable file, folder
    // (-wal, -shm) and disk, so this proves `medic check` can write while changing nothing.
    await store.releaseLock(PROBE_OWNER, deps.now());
    const version = await store.schemaVersion();
    if (version !== SCHEMA_VERSION) {
      add(EXIT.ioerr, 'database', 'fail', `${path}: schema version ${version}, but this Medic uses version ${SCHEMA_VERSION}`, 'run `medic check` once to migrate it, or use the Medic that wrote it');
    } else {
      add(EXIT.ioerr, 'database', 'ok', `${path}: ${existed ? 'opens and is writable' : 'did not exist; created it'}, schema version ${version} (current)`);
    }
  } catch (err) {
    if (!(err instanceof MedicError)) throw err;
    add(EXIT.ioerr, 'database', 'fail', err.message, err.hint ?? DB_FIX);
  }
  try {
    const mode = statSync(path).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      add(EXIT.ioerr, 'database permissions', 'warn', `${path} has mode ${octal(mode)}: other users on this machine can read it`, `chmod 600 ${path}`);
    } else {
      add(EXIT.ioerr, 'database permissions', 'ok', `mode ${octal(mode)}`);
    }
  } catch (err) {
    add(EXIT.ioerr, 'database permissions', 'warn', `cannot stat ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'check the path and its folder');
  }
  return store;
}

/** Whether the target's key is set and 32 characters. The key itself is never put in a finding. */
function checkKey(target: Target, env: NodeJS.ProcessEnv, add: Add): boolean {
  const check = `routing key (${target.name})`;
  const ref = keyRefOf(target);
  const where = describeKeyRef(ref);
  const getKey = 'the Integration Key from PagerDuty → Service → Integrations → Events API v2';
  const key = readKey(ref, env);
  if ('missing' in key) {
    add(
      EXIT.config,
      check,
      'fail',
      key.missing,
      target.routingKeyFile
        ? `write ${getKey} into ${target.routingKeyFile} (mode 0600)`
        : `export ${target.routingKeyEnv}=<${getKey}>, and add ${target.routingKeyEnv}=<the same key> as a line at the top of \`crontab -e\` (cron does not see your shell's variables)`,
    );
    return false;
  }
  if (key.key.length !== KEY_LENGTH) {
    add(
      EXIT.config,
      check,
      'fail',
      `${where} is set, but has ${key.key.length} characters; an Integration Key has ${KEY_LENGTH}`,
      `copy ${getKey} again, whole and without quotes or spaces`,
    );
    return false;
  }
  if (target.routingKeyFile) {
    const mode = fileMode(target.routingKeyFile);
    if (mode !== null && (mode & 0o077) !== 0) {
      add(EXIT.config, check, 'warn', `${where}: set, ${KEY_LENGTH} characters, but other users can read it (mode ${octal(mode)})`, `chmod 600 ${target.routingKeyFile}`);
      return true;
    }
  }
  add(EXIT.config, check, 'ok', `${where}: set, ${KEY_LENGTH} characters`);
  return true;
}

/**
 * One probe per distinct events URL: an empty event `{}` without a key, which the Events API
 * refuses with 400 "Event object is invalid" (the healthy answer); a 404, a redirect, a 5xx or no
 * answer fails. A URL is shown without its userinfo.
 */
async function checkReach(config: Config, deps: DoctorDeps, add: Add): Promise<void> {
  const byUrl = new Map<string, Target[]>();
  for (const t of config.targets.values()) byUrl.set(t.eventsUrl, [...(byUrl.get(t.eventsUrl) ?? []), t]);
  for (const [url, targets] of byUrl) {
    const names = `target${targets.length === 1 ? '' : 's'} ${targets.map((t) => t.name).join(', ')}`;
    const result = await deps.reach(url, Math.max(...targets.map((t) => t.timeoutMs)));
    if (result.ok) {
      add(EXIT.tempfail, 'events URL', 'ok', `${urlForDisplay(url)} (${names}): reachable (answered HTTP ${result.status}${result.said ? `: ${result.said}` : ''})`);
    } else {
      add(
        EXIT.tempfail,
        'events URL',
        'fail',
        `${urlForDisplay(url)} (${names}): ${result.error}`,
        result.fix ?? "check that this machine can reach PagerDuty over HTTPS (firewall, DNS, HTTPS_PROXY), and the target's eventsUrl",
      );
    }
  }
}

/** The guide's test trigger, then its resolve, to every target whose key is usable. */
async function sendTests(config: Config, keysOk: Set<string>, deps: DoctorDeps, add: Add): Promise<void> {
  for (const target of config.targets.values()) {
    const check = `test alert (${target.name})`;
    if (!keysOk.has(target.name)) {
      add(EXIT.ok, check, 'warn', 'not sent: the routing key is not usable', 'fix the routing key first, then run medic doctor --send-test again');
      continue;
    }
    const lines: string[] = [];
    const alertDeps = { config, send: deps.send, env: deps.env, sleep: deps.sleep, report: (line: string) => lines.push(line) };
    try {
      await testAlert({ resolve: false, target: target.name }, alertDeps);
      await testAlert({ resolve: true, target: target.name }, alertDeps);
      add(EXIT.tempfail, check, 'ok', lines.join('\n'));
    } catch (err) {
      if (!(err instanceof MedicError)) throw err;
      add(err.exitCode, check, 'fail', [...lines, err.message].join('\n'), err.hint);
    }
  }
}

/** A line that runs the checker: not a comment, names medic and the check command. */
const CHECK_LINE = /\bmedic\b.*\scheck(?=$|[\s;&|>)'"])/;
const CONFIG_IN_LINE = /(?:^|\s)(?:--config|-c)(?:=|\s+)(\S+)/;
const CONFIG_IN_ENV = /(?:^|\s)MEDIC_CONFIG=(\S+)/m;

async function checkCrontab(config: Config | null, deps: DoctorDeps, add: Add): Promise<void> {
  const wanted = `* * * * * /path/to/medic --config ${config?.file ?? '/path/to/medic.config.json'} check`;
  const addLine = `add this line with \`crontab -e\` (the full path of medic, as \`medic init\` printed it): ${wanted}`;
  const read = await deps.readCrontab();
  if (read.kind === 'not-installed') {
    // Not a failure by itself: a systemd timer may run the checker; "last check" tells whether something does.
    add(EXIT.config, 'crontab', 'warn', 'the crontab command is not installed, so doctor cannot see what runs `medic check`', `install cron (Debian/Ubuntu: apt-get install cron) and ${addLine}; or run medic check every minute from a systemd timer`);
    return;
  }
  if (read.kind === 'none') {
    add(EXIT.config, 'crontab', 'fail', `this user has no crontab (${read.message}), so nothing runs \`medic check\``, addLine);
    return;
  }
  if (read.kind === 'error') {
    add(EXIT.config, 'crontab', 'fail', `cannot read this user's crontab: ${read.message}`, `run \`crontab -l\` to see why; then ${addLine}`);
    return;
  }
  const lines = read.text.split('\n').map((l) => l.trim());
  const lineNo = lines.findIndex((l) => l !== '' && !l.startsWith('#') && CHECK_LINE.test(l));
  if (lineNo < 0) {
    const commented = lines.some((l) => l.startsWith('#') && CHECK_LINE.test(l));
    add(
      EXIT.config,
      'crontab',
      'fail',
      commented ? 'the crontab line that runs `medic check` is commented out' : "this user's crontab has no line that runs `medic check`",
      commented ? 'remove the # in front of it with `crontab -e`' : addLine,
    );
    return;
  }
  // The line itself is not shown: it may carry a routing key in a NAME=value prefix.
  const line = lines[lineNo]!;
  const at = `line ${lineNo + 1} runs medic check`;
  if (!config) {
    add(EXIT.config, 'crontab', 'ok', at);
    return;
  }
  const home = deps.env.HOME || homedir();
  const active = lines.filter((l) => !l.startsWith('#')).join('\n');
  // Only what follows "medic" is its own option (not the -c of `sh -c '...'`).
  const given = CONFIG_IN_LINE.exec(line.slice(line.search(/\bmedic\b/)))?.[1] ?? CONFIG_IN_ENV.exec(active)?.[1];
  if (given === undefined) {
    if (cronSearchFinds(config.file, home)) {
      add(EXIT.config, 'crontab', 'ok', `${at}; it finds ${config.file} by searching from ${home}`);
    } else {
      add(
        EXIT.config,
        'crontab',
        'warn',
        `${at} without --config or MEDIC_CONFIG; cron runs it from ${home}, where the search does not find ${config.file}`,
        `add --config ${config.file} to that line (before "check")`,
      );
    }
  } else {
    const path = unquote(given);
    const cronFile = path.includes('$') ? null : resolve(home, path.startsWith('~/') ? join(home, path.slice(2)) : path);
    if (cronFile !== null && cronFile !== config.file) {
      add(EXIT.config, 'crontab', 'warn', `${at} with the config ${cronFile}, but doctor checked ${config.file}`, `run medic doctor --config ${cronFile}, or point the crontab line at ${config.file}`);
    } else {
      add(EXIT.config, 'crontab', 'ok', `${at} with the config ${cronFile ?? path}`);
    }
  }
  // Cron gives its jobs almost no environment: a key read from a variable must be set in the crontab.
  for (const name of new Set([...config.targets.values()].map((t) => t.routingKeyEnv).filter((n): n is string => n !== null))) {
    // Names are [A-Za-z_][A-Za-z0-9_]* (the schema's envVarName), safe inside a pattern.
    if (!new RegExp(`(?:^|\\s)${name}=`, 'm').test(active)) {
      add(
        EXIT.config,
        'crontab environment',
        'warn',
        `the crontab does not set ${name}; cron jobs do not see your shell's variables, so \`medic check\` may find no routing key (unless its command sets it)`,
        `add ${name}=<the Integration Key> as a line at the top of \`crontab -e\`, or use "routingKeyFile" in the target`,
      );
    }
  }
}

/**
 * Whether the config search, run by cron from $HOME, would reach the file: cosmiconfig stops going
 * up at the home folder, so only $HOME itself, then ~/.config/medic (cron sets no XDG_CONFIG_HOME)
 * and /etc/medic.
 */
function cronSearchFinds(file: string, home: string): boolean {
  const dir = dirname(file);
  return dir === resolve(home) || dir === join(home, '.config', 'medic') || dir === join('/etc', 'medic');
}

async function checkLastRun(store: DoctorStore, configFile: string, now: number, add: Add): Promise<void> {
  const hint = `run \`medic --config ${configFile} check -v\` by hand to see its errors, and see the crontab finding above`;
  let last: number | null;
  try {
    last = await store.lastCheckAt();
  } catch (err) {
    if (!(err instanceof MedicError)) throw err;
    add(EXIT.tempfail, 'last check', 'fail', err.message, err.hint ?? DB_FIX);
    return;
  }
  if (last === null) {
    add(EXIT.tempfail, 'last check', 'fail', '`medic check` has never completed a run on this database', hint);
    return;
  }
  const age = now - last;
  const when = `${new Date(last).toISOString()} (${age >= 0 ? `${roughDuration(age)} ago` : `${roughDuration(-age)} in the future: is the clock right?`})`;
  if (age > STALE_CHECK_MS) {
    add(EXIT.tempfail, 'last check', 'warn', `last run ${when}; it should run every minute`, hint);
  } else {
    add(EXIT.tempfail, 'last check', 'ok', `last run ${when}`);
  }
}

/** Reads the current user's crontab with `crontab -l` (found on env's PATH). */
export function readUserCrontab(env: NodeJS.ProcessEnv): Promise<CrontabRead> {
  return new Promise((done) => {
    execFile('crontab', ['-l'], { env, timeout: 10_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return done({ kind: 'text', text: stdout });
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return done({ kind: 'not-installed' });
      const message = (stderr.trim() || err.message).split('\n')[0]!;
      // Debian, cronie and busybox all say "no crontab for <user>".
      done(/no crontab/i.test(message) ? { kind: 'none', message } : { kind: 'error', message });
    });
  });
}

const MARK: Record<Level, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };

/**
 * The findings for a person: one block per finding (mark, check, detail, then the fix after an
 * arrow), and a last line with the count. `paint` colours by level (output.ts passes chalk);
 * without it the text is plain.
 */
export function formatFindings(findings: Finding[], paint: (level: Level | 'hint', text: string) => string = (_l, t) => t): string {
  const width = Math.max(0, ...findings.map((f) => f.check.length));
  const out: string[] = [];
  for (const f of findings) {
    const [first = '', ...more] = f.detail.split('\n');
    out.push(`${paint(f.level, MARK[f.level])}  ${f.check.padEnd(width)}  ${first}`);
    for (const line of more) out.push(`${' '.repeat(width + 8)}${line}`);
    if (f.fix && f.level !== 'ok') out.push(paint('hint', `${' '.repeat(width + 8)}→ ${f.fix}`));
  }
  const fails = findings.filter((f) => f.level === 'fail').length;
  const warns = findings.filter((f) => f.level === 'warn').length;
  out.push(
    fails + warns === 0
      ? paint('ok', 'everything looks right')
      : paint(fails > 0 ? 'fail' : 'warn', `${plural(fails, 'problem')}, ${plural(warns, 'warning')}`),
  );
  return `${out.join('\n')}\n`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

function fileMode(path: string): number | null {
  try {
    return statSync(path).mode & 0o777;
  } catch {
    return null;
  }
}

function unquote(s: string): string {
  return s.replace(/^(['"])(.*)\1$/, '$2');
}
