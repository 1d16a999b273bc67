import { execFile } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { Config, Target } from '../config.js';
import { iso, roughDuration } from '../core/duration.js';
import { checkerCrontabLine, checkerLines, commentedChecker, parseCrontab, resolveProgram, type Install } from '../crontab.js';
import { CHECK_SERVICE, CHECK_TIMER, execWords } from '../systemd.js';
import { EXIT, MedicError, urlForDisplay } from '../errors.js';
import { TLS_OFF_HINT, tlsChecksOff, UNREACHABLE_HINT } from '../hints.js';
import type { Sender } from '../notify/http.js';
import { describeKeyRef, keyRefOf, missingSecretHint, readTargetKey, secretFileAdvice, secretNoun } from '../notify/keys.js';
import { checkPingKeyIsOwn, checkViewKeyIsOwn, isLoopback, pingKeySource, readPingKey, readTls, readViewKey, viewKeySource } from '../serve/key.js';
import { SCHEMA_VERSION } from '../store/migrations.js';
import type { StoreConfig } from '../store/index.js';
import { describeUrl, sentInClear } from '../store/postgres-url.js';
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
export type DoctorStore = Pick<Store, 'probe' | 'lastCheckAt' | 'schemaVersion' | 'close'>;

export interface DoctorDeps {
  /** Finds and validates the config; throws a ConfigError when it is missing or invalid. */
  loadConfig: () => Promise<Config>;
  /** Opens the config's store read-only: doctor never creates or migrates it. */
  openStore: (config: Config) => DoctorStore | Promise<DoctorStore>;
  env: NodeJS.ProcessEnv;
  now: () => number;
  readCrontab: () => Promise<CrontabRead>;
  reach: (url: string, timeoutMs: number) => Promise<ReachResult>;
  send: Sender;
  sleep: (ms: number) => Promise<void>;
  /** This install's medic and node, for the crontab line doctor recommends. */
  install: Install;
  /** Whether a file is there and executable (is the medic a crontab line names really there?). */
  isExecutable: (path: string) => boolean;
  /** The user running medic: a key file must be its own or root's (as check and test-alert require). */
  uid?: number;
  /** Its primary group: a serve key file its group can read is fine when the group is this one. */
  gid?: number;
  /** The systemd timer that may run the checker instead of cron (findSystemdTimer); absent: none looked for. */
  findTimer?: () => Promise<TimerRead | null>;
  /** The real path of a file (default: realpathSync): is the medic cron or the timer runs this install? */
  realpath?: (path: string) => string;
}

/** A medic-check.timer unit file found on this machine. */
export interface TimerRead {
  file: string;
  /** Its OnCalendar= values. */
  onCalendar: string[];
  /** What `systemctl is-enabled` said; null when systemd is not running here (a container) and nobody can ask. */
  enabled: boolean | null;
  /** The medic-check.service beside it (the unit it starts), read the same way; null when there is none. */
  service: { file: string; execStart: string | null } | null;
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

/*
 * Exit code: 0 when nothing failed (warnings do not fail), else the SPEC §6 code of the first
 * failing area, in the order the checks run:
 *   config 78 · database 74 · target secrets (routing keys, Slack webhook URLs and tokens,
 *   signing secrets) 78 · serve ping key and TLS files 78 (with a `serve` section) · certificate
 *   checks off 78 · events URL 75 (with
 *   --send-test: the test alert's own code, 75 / 76 / 78) · crontab 78 (the machine is not set up
 *   to run the checker: a configuration problem, like an unset key) · last check run 75 (never
 *   ran: often cron simply has not reached its first minute yet; try again later).
 */

/**
 * Checks everything a working Medic needs and says what to fix: config, database, every target's
 * secret, medic serve's ping key and TLS files (with a `serve` section), that certificate checks
 * are on, the events URLs (or, with sendTest, the guide's test trigger and resolve; Slack and
 * webhook targets are not probed, a probe would post), the crontab line that runs `medic check`
 * (every minute, with a medic and node cron can find, and the variables its secrets are read
 * from), and when that last ran. Never prints a secret.
 */
export async function doctor(input: { sendTest: boolean }, deps: DoctorDeps): Promise<DoctorResult> {
  const found: { finding: Finding; code: number }[] = [];
  const add = (code: number, check: string, level: Level, detail: string, fix?: string) =>
    found.push({ finding: { check, ok: level === 'ok', level, detail, ...(fix !== undefined && { fix }) }, code });
  const skip = (check: string, needs: 'config' | 'database') =>
    add(EXIT.ok, check, 'warn', `not checked: needs ${needs === 'config' ? 'a valid config' : 'a working database'}`, `fix the ${needs} first, then run medic doctor again`);

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
      store = await checkDatabase(config, deps, add);
    } else {
      skip('database', 'config');
    }

    const keysOk = new Set<string>();
    if (config) {
      for (const target of config.targets.values()) if (checkKey(target, deps.env, deps.uid ?? null, add)) keysOk.add(target.name);
    } else {
      skip('routing keys', 'config');
    }

    if (config?.serve.configured) checkServe(config, deps, add);

    // Node reads NODE_TLS_REJECT_UNAUTHORIZED=0 as "accept any certificate": whoever sits between
    // this machine and PagerDuty could read the routing key and drop pages.
    if (tlsChecksOff(deps.env)) add(EXIT.config, 'certificate checks', 'fail', 'NODE_TLS_REJECT_UNAUTHORIZED=0 is set: certificate checks are off for every request medic makes', TLS_OFF_HINT);

    if (!config) skip(input.sendTest ? 'test alert' : 'events URL', 'config');
    else if (input.sendTest) await sendTests(config, keysOk, deps, add);
    else await checkReach(config, deps, add);

    const schedule = await checkCrontab(config, deps, add);

    if (config && store) await checkLastRun(store, config.file, schedule, deps.now(), add);
    else skip('last check', config ? 'database' : 'config');
  } finally {
    await store?.close();
  }

  const firstFail = found.find((f) => f.finding.level === 'fail');
  return { findings: found.map((f) => f.finding), exitCode: firstFail ? firstFail.code : EXIT.ok };
}

type Add = (code: number, check: string, level: Level, detail: string, fix?: string) => void;

/**
 * Opens the database read-only (never creating or migrating it) and asks the store whether this
 * user can write it; returns it open, or null.
 */
async function checkDatabase(config: Config, deps: DoctorDeps, add: Add): Promise<DoctorStore | null> {
  // [scale] PostgreSQL: named by host, port, database and user (never a password); no file to stat.
  const path = config.databaseUrl ? describeUrl(config.databaseUrl) : config.databasePath;
  if (config.databaseUrl && sentInClear(config.databaseUrl)) {
    add(
      EXIT.ok,
      'database encryption',
      'warn',
      `${path}: no sslmode=require, verify-ca or verify-full in the URL, so the password and every beat may cross the network in clear text`,
      'add ?sslmode=verify-full to the URL (and sslrootcert=<CA file> for a private CA)',
    );
  }
  let store: DoctorStore;
  try {
    store = await deps.openStore(config);
  } catch (err) {
    if (!(err instanceof MedicError)) throw err;
    add(EXIT.ioerr, 'database', 'fail', err.message, err.hint ?? DB_FIX);
    return null;
  }
  try {
    if (!(await store.probe()).exists) {
      add(EXIT.ioerr, 'database', 'ok', `${path}: ${config.databaseUrl ? 'reachable and writable, no Medic tables yet' : 'does not exist yet'}; the first \`medic check\` creates ${config.databaseUrl ? 'them' : 'it'}`);
      return store;
    }
    const version = await store.schemaVersion();
    if (version !== SCHEMA_VERSION) {
      add(EXIT.ioerr, 'database', 'fail', `${path}: schema version ${version}, but this Medic uses version ${SCHEMA_VERSION}`, 'run `medic check` once to migrate it, or use the Medic that wrote it');
    } else {
      add(EXIT.ioerr, 'database', 'ok', `${path}: opens and is writable, schema version ${version} (current)`);
    }
  } catch (err) {
    if (!(err instanceof MedicError)) throw err;
    add(EXIT.ioerr, 'database', 'fail', err.message, err.hint ?? DB_FIX);
  }
  if (config.databaseUrl) return store;
  try {
    const mode = statSync(path).mode & 0o777;
    // "databaseMode": "0660" is the group set-up: the group then shares the file on purpose.
    const wanted = (config as StoreConfig).databaseMode ?? 0o600;
    const chmod = `chmod ${wanted.toString(8)} ${path}`;
    if ((mode & ~wanted & 0o077) !== 0) {
      add(EXIT.ioerr, 'database permissions', 'warn', `${path} has mode ${octal(mode)}: ${mode & 0o007 ? 'other users' : 'its group'} on this machine can read it`, chmod);
    } else if ((wanted & 0o020) !== 0 && (mode & 0o020) === 0) {
      add(EXIT.ioerr, 'database permissions', 'warn', `${path} has mode ${octal(mode)}: "databaseMode" is ${octal(wanted)}, but its group cannot write it`, chmod);
    } else {
      add(EXIT.ioerr, 'database permissions', 'ok', `mode ${octal(mode)}`);
    }
  } catch (err) {
    add(EXIT.ioerr, 'database permissions', 'warn', `cannot stat ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'check the path and its folder');
  }
  return store;
}

/**
 * Whether the target's secret (a routing key, a Slack webhook URL or bot token, a signing secret)
 * is usable, judged exactly as check and test-alert judge it before they send (readTargetKey: set,
 * of the right shape, a file the user or root owns that others cannot write). The secret itself is
 * never put in a finding, nor any part of it: only where it is read and its length. A target that
 * takes only some priorities says which ("takes P1, P2").
 */
function checkKey(target: Target, env: NodeJS.ProcessEnv, uid: number | null, add: Add): boolean {
  const check = `${secretNoun(target)} (${target.name})`;
  const ref = keyRefOf(target);
  const where = describeKeyRef(ref);
  const key = readTargetKey(target, env, uid);
  if (!('key' in key)) {
    add(EXIT.config, check, 'fail', key.message, key.hint);
    return false;
  }
  const set = `${where}: set, ${key.key.length} characters${target.priorities ? `; takes ${target.priorities.join(', ')}` : ''}`;
  if (ref.startsWith('file:')) {
    const mode = fileMode(ref.slice(5));
    if (mode !== null && (mode & 0o077) !== 0) {
      add(EXIT.config, check, 'warn', `${set}; but other users can read it (mode ${octal(mode)})`, `chmod 600 ${ref.slice(5)}`);
      return true;
    }
  }
  add(EXIT.config, check, 'ok', set);
  return true;
}

/**
 * [scale] With a `serve` section: medic serve's ping key (and its TLS files), judged as medic serve
 * judges them at start (readPingKey, checkPingKeyIsOwn, readTls). A ping key variable that this
 * shell does not have is only a warning: medic serve usually gets it from its unit's environment.
 * The key itself is never put in a finding.
 */
function checkServe(config: Config, deps: DoctorDeps, add: Add): void {
  const s = config.serve;
  // cli.ts always passes the ids; the process's own are the same ones.
  const uid = deps.uid ?? process.getuid?.() ?? 0;
  const where = pingKeySource(s);
  const check = (name: string, judge: () => string) => {
    try {
      add(EXIT.config, name, 'ok', judge());
    } catch (err) {
      if (!(err instanceof MedicError)) throw err;
      add(EXIT.config, name, 'fail', err.message, err.hint);
    }
  };
  let pingKey = '';
  if (s.pingKeyEnv !== null && deps.env[s.pingKeyEnv] === undefined) {
    add(EXIT.config, 'serve ping key', 'warn', `${where} is not set here: medic serve needs it in its own environment`, `set it where medic serve runs (its systemd unit's Environment= or EnvironmentFile=), or name a file in serve.pingKeyFile`);
  } else {
    check('serve ping key', () => {
      const key = readPingKey(s, deps.env, uid, deps.gid);
      checkPingKeyIsOwn(key, config, deps.env);
      pingKey = key;
      return `${where}: set, ${key.length} characters`;
    });
  }
  // [ecosystem] The status page's view key, when the config names its variable.
  if (s.viewKeyEnv !== null && deps.env[s.viewKeyEnv] === undefined && isLoopback(s.host)) {
    add(EXIT.config, 'serve view key', 'ok', `${viewKeySource(s)} is not set: not needed while serve.listen is a loopback address (the page is open to this machine)`);
  } else if (s.viewKeyEnv !== null && deps.env[s.viewKeyEnv] === undefined) {
    add(EXIT.config, 'serve view key', 'warn', `${viewKeySource(s)} is not set here: medic serve needs it in its own environment`, `set it where medic serve runs (its systemd unit's Environment= or EnvironmentFile=)`);
  } else if (s.viewKeyEnv !== null) {
    check('serve view key', () => {
      const key = readViewKey(s, deps.env, pingKey)!;
      checkViewKeyIsOwn(key, config, deps.env);
      return `${viewKeySource(s)}: set, ${key.length} characters`;
    });
  }
  if (s.tls) {
    const { cert, key } = s.tls;
    check('serve TLS', () => (readTls(s, uid, deps.gid), `${cert} and ${key}: a certificate and the private key that belongs to it`));
  }
}

/**
 * One probe per distinct events URL: an empty event `{}` without a key, which the Events API
 * refuses with 400 "Event object is invalid" (the healthy answer); a 404, a redirect, a 5xx or no
 * answer fails. A URL is shown without its userinfo.
 */
async function checkReach(config: Config, deps: DoctorDeps, add: Add): Promise<void> {
  // [targets] Slack's and a webhook's only endpoint posts a message: nothing to probe without sending one.
  const unprobed = [...config.targets.values()].filter((t) => t.type !== 'pagerduty');
  if (unprobed.length > 0) {
    const names = unprobed.map((t) => `${t.name} (${t.type})`).join(', ');
    const command = `medic test-alert --target ${unprobed.length === 1 ? unprobed[0]!.name : '<name>'}`;
    add(EXIT.ok, 'Slack and webhook targets', 'ok', `${names}: not probed over the network (a probe would post a message); \`${command}\` sends a test`);
  }
  const byUrl = new Map<string, Target[]>();
  for (const t of config.targets.values()) if (t.type === 'pagerduty') byUrl.set(t.eventsUrl, [...(byUrl.get(t.eventsUrl) ?? []), t]);
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
        result.fix ?? UNREACHABLE_HINT,
      );
    }
  }
}

/** The guide's test trigger, then its resolve, to every target whose key is usable. */
async function sendTests(config: Config, keysOk: Set<string>, deps: DoctorDeps, add: Add): Promise<void> {
  for (const target of config.targets.values()) {
    const check = `test alert (${target.name})`;
    if (!keysOk.has(target.name)) {
      add(EXIT.ok, check, 'warn', `not sent: the ${secretNoun(target)} is not usable`, `fix the ${secretNoun(target)} first, then run medic doctor --send-test again`);
      continue;
    }
    const lines: string[] = [];
    const alertDeps = { config, send: deps.send, env: deps.env, uid: deps.uid, sleep: deps.sleep, report: (line: string) => lines.push(line) };
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

/** OnCalendar= values that mean every minute (systemd.time(7)). */
const MINUTELY = new Set(['minutely', '*:*', '*:*:00', '*-*-* *:*:00', '*-*-* *:*']);

/** Whether a timer with these OnCalendar= values fires every minute (one of them is enough). */
export function timerEveryMinute(onCalendar: string[]): boolean {
  return onCalendar.some((v) => MINUTELY.has(v.trim().replace(/\s+/g, ' ')));
}

/**
 * A medic-check.timer that fires every minute (and is enabled, when systemd can be asked) runs the
 * checker as a crontab line would; true when it does.
 */
function checkTimer(timer: TimerRead, config: Config | null, deps: DoctorDeps, add: Add): boolean {
  const name = CHECK_TIMER;
  if (!timerEveryMinute(timer.onCalendar)) {
    const when = timer.onCalendar.length === 0 ? 'no OnCalendar=' : `OnCalendar=${timer.onCalendar.join(', ')}`;
    add(EXIT.config, 'checker schedule', 'warn', `systemd timer ${name} (${timer.file}) has ${when}, not every minute`, 'set OnCalendar=minutely in it (`medic init --systemd` writes one), then systemctl daemon-reload');
    return false;
  }
  if (timer.enabled === false) {
    add(EXIT.config, 'checker schedule', 'warn', `systemd timer ${name} (${timer.file}) runs every minute but is not enabled`, `systemctl enable --now ${name}`);
    return false;
  }
  // The timer only starts medic-check.service: what runs is that unit's ExecStart=.
  const service = timer.service;
  const wanted = `\`medic init --systemd --force\` writes both (docs/systemd.md), then systemctl daemon-reload`;
  if (service === null) {
    add(EXIT.config, 'checker schedule', 'warn', `systemd timer ${name} (${timer.file}) starts ${CHECK_SERVICE}, but there is no ${CHECK_SERVICE} beside it: nothing runs the checker`, wanted);
    return false;
  }
  const call = service.execStart === null ? null : execCall(execWords(service.execStart));
  if (call === null) {
    add(EXIT.config, 'checker schedule', 'warn', `${service.file}, which ${name} starts, has no ExecStart= that runs \`medic check\``, wanted);
    return false;
  }
  const every = `systemd timer ${name} (every minute)${timer.enabled === null ? `; read from ${timer.file} (systemd is not running here to say whether it is enabled)` : ''}`;
  // systemd runs a bare name from its own fixed PATH (systemd.service(5) "Command lines").
  const medicAt = resolveProgram(call.program, SYSTEMD_EXEC_PATH, '/', deps.isExecutable);
  if (medicAt === null) {
    add(EXIT.config, 'checker schedule', 'warn', `${every}, but ${CHECK_SERVICE} runs ${call.program}, which is not there: nothing runs the checker`, wanted);
    return false;
  }
  const other = otherMedic(medicAt, deps);
  if (other !== null) {
    add(EXIT.config, 'checker schedule', 'warn', `${every}, but ${other}`, `${wanted}; it names this install's medic by its absolute path`);
    return true;
  }
  const given = call.config === null ? null : resolve('/', call.config);
  if (config !== null && given !== config.file) {
    add(
      EXIT.config,
      'checker schedule',
      'warn',
      given === null ? `${every}, but ${CHECK_SERVICE} runs it without --config` : `${every}, but ${CHECK_SERVICE} runs it with the config ${given}, and doctor checked ${config.file}`,
      given === null ? `${wanted}; it passes --config ${config.file}` : `run medic doctor --config ${given}, or ${wanted} with --config ${config.file}`,
    );
    return true;
  }
  add(EXIT.config, 'checker schedule', 'ok', every);
  return true;
}

/** The medic in an ExecStart= line's words and its --config, when the line runs `medic … check`. */
function execCall(words: string[]): { program: string; config: string | null } | null {
  const at = words.findIndex((w) => basename(w) === 'medic');
  if (at < 0) return null;
  let config: string | null = null;
  for (let i = at + 1; i < words.length; i++) {
    const w = words[i]!;
    if (w === '--config' || w === '-c') config = words[++i] ?? null;
    else if (w.startsWith('--config=')) config = w.slice('--config='.length);
    else if (!w.startsWith('-')) return w === 'check' ? { program: words[at]!, config } : null;
  }
  return null;
}

/** The PATH systemd runs a bare ExecStart= program name from. */
const SYSTEMD_EXEC_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin';

/**
 * Why the medic a crontab line or the timer's service runs (`found`, where cron or systemd finds
 * it) is not this install (another, maybe older, medic), naming both; null when it is, or when
 * either cannot be resolved (a missing one has a finding of its own).
 */
function otherMedic(found: string, deps: DoctorDeps): string | null {
  const real = (p: string) => {
    try {
      return (deps.realpath ?? realpathSync)(p);
    } catch {
      return null;
    }
  };
  const theirs = real(found);
  const mine = real(deps.install.binPath);
  if (theirs === null || mine === null || theirs === mine) return null;
  return `its medic ${found}${theirs === found ? '' : ` (${theirs})`} is not this install's medic ${deps.install.binPath}${mine === deps.install.binPath ? '' : ` (${mine})`}`;
}

/** Checks what runs the checker: the systemd timer (then 'timer'), else the crontab. */
async function checkCrontab(config: Config | null, deps: DoctorDeps, add: Add): Promise<'timer' | 'crontab'> {
  const timer = await deps.findTimer?.();
  if (timer && checkTimer(timer, config, deps, add)) return 'timer';
  return checkCrontabLines(config, deps, add);
}

async function checkCrontabLines(config: Config | null, deps: DoctorDeps, add: Add): Promise<'crontab'> {
  const wanted = checkerCrontabLine(deps.install, config?.file ?? null);
  const addLine = `add this line with \`crontab -e\`: ${wanted}`;
  const read = await deps.readCrontab();
  if (read.kind === 'not-installed') {
    // Not a failure by itself: a systemd timer may run the checker; "last check" tells whether something does.
    add(EXIT.config, 'crontab', 'warn', 'the crontab command is not installed, so doctor cannot see what runs `medic check`', `install cron (Debian/Ubuntu: apt-get install cron) and ${addLine}; or run medic check every minute from a systemd timer`);
    return 'crontab';
  }
  if (read.kind === 'none') {
    add(EXIT.config, 'crontab', 'fail', `this user has no crontab (${read.message}), so nothing runs \`medic check\``, addLine);
    return 'crontab';
  }
  if (read.kind === 'error') {
    add(EXIT.config, 'crontab', 'fail', `cannot read this user's crontab: ${read.message}`, `run \`crontab -l\` to see why; then ${addLine}`);
    return 'crontab';
  }
  const home = deps.env.HOME || homedir();
  const crontab = parseCrontab(read.text);
  const lines = checkerLines(crontab, home, deps.isExecutable);
  const good = lines.find((l) => l.problems.length === 0);
  // The lines themselves are not shown: they may carry a routing key in a NAME=value prefix.
  if (!good) {
    const bad = lines[0];
    const commented = commentedChecker(crontab);
    if (bad) {
      add(EXIT.config, 'crontab', 'fail', `line ${bad.job.lineNo} calls \`medic check\`, but ${bad.problems.join('; ')}: nothing runs the checker every minute`, `replace it with \`crontab -e\`: ${wanted}`);
    } else if (commented) {
      add(EXIT.config, 'crontab', 'fail', `the crontab line that runs \`medic check\` (line ${commented.lineNo}) is commented out`, 'remove the # in front of it with `crontab -e`');
    } else {
      add(EXIT.config, 'crontab', 'fail', "this user's crontab has no line that runs `medic check`", addLine);
    }
    return 'crontab';
  }
  const at = `line ${good.job.lineNo} runs medic check every minute`;
  // Another medic on that line (an older install in /usr/bin, first on cron's PATH) fails or
  // judges by other rules every minute: it is not this one, whatever its config.
  const other = good.medicAt === null ? null : otherMedic(good.medicAt, deps);
  if (other !== null) add(EXIT.config, 'crontab', 'warn', `line ${good.job.lineNo} calls \`medic check\` every minute, but ${other}`, `replace it with \`crontab -e\`: ${wanted} (the absolute path \`medic init\` prints)`);
  const ok = (detail: string) => other === null && add(EXIT.config, 'crontab', 'ok', detail);
  if (!config) {
    ok(at);
    return 'crontab';
  }
  const env = { ...good.job.env, ...good.call.prefix };
  const given = good.call.config ?? env.MEDIC_CONFIG;
  if (given === undefined) {
    if (cronSearchFinds(config.file, home)) {
      ok(`${at}; it finds ${config.file} by searching from ${home}`);
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
    const cronFile = given.includes('$') ? null : resolve(home, given.startsWith('~/') ? join(home, given.slice(2)) : given);
    if (cronFile !== null && cronFile !== config.file) {
      add(EXIT.config, 'crontab', 'warn', `${at} with the config ${cronFile}, but doctor checked ${config.file}`, `run medic doctor --config ${cronFile}, or point the crontab line at ${config.file}`);
    } else {
      ok(`${at} with the config ${cronFile ?? given}`);
    }
  }
  if (tlsChecksOff(env)) add(EXIT.config, 'certificate checks', 'fail', `the crontab sets NODE_TLS_REJECT_UNAUTHORIZED=0 for line ${good.job.lineNo}: certificate checks are off`, TLS_OFF_HINT);
  // Cron gives its jobs almost no environment: a secret read from a variable (routingKeyEnv,
  // webhookUrlEnv, tokenEnv, secretEnv) must be set for the line. One finding per variable.
  const byVariable = new Map<string, Target>();
  for (const t of config.targets.values()) {
    const ref = keyRefOf(t);
    if (ref.startsWith('env:') && !byVariable.has(ref.slice(4))) byVariable.set(ref.slice(4), t);
  }
  for (const [name, target] of byVariable) {
    if (name in good.call.prefix) continue;
    const noun = secretNoun(target);
    if (name in good.job.env) {
      add(EXIT.config, 'crontab environment', 'warn', `the crontab sets ${name} on a line of its own, which hands the ${noun} to every job in this crontab`, `${secretFileAdvice(target)}, then remove that line`);
    } else {
      add(
        EXIT.config,
        'crontab environment',
        'warn',
        `the crontab does not set ${name}; cron jobs do not see your shell's variables, so \`medic check\` may find no ${noun}`,
        missingSecretHint(target),
      );
    }
  }
  return 'crontab';
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

async function checkLastRun(store: DoctorStore, configFile: string, schedule: 'timer' | 'crontab', now: number, add: Add): Promise<void> {
  const where = schedule === 'timer' ? `see what the timer's runs said: journalctl -u ${CHECK_SERVICE}` : 'see the crontab finding above';
  const hint = `run \`medic --config ${configFile} check -v\` by hand to see its errors, and ${where}`;
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
  const when = `${iso(last)} (${age >= 0 ? `${roughDuration(age)} ago` : `${roughDuration(-age)} in the future: is the clock right?`})`;
  if (age > STALE_CHECK_MS) {
    add(EXIT.tempfail, 'last check', 'warn', `last run ${when}; it should run every minute`, hint);
  } else {
    add(EXIT.tempfail, 'last check', 'ok', `last run ${when}`);
  }
}

/**
 * Reads the current user's crontab with `crontab -l` (found on env's PATH). It gets only what it
 * needs to find the program and the user (PATH, HOME, USER, LOGNAME): never a routing key.
 */
export function readUserCrontab(env: NodeJS.ProcessEnv): Promise<CrontabRead> {
  const minimal: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME', 'USER', 'LOGNAME']) if (env[name] !== undefined) minimal[name] = env[name];
  return new Promise((done) => {
    execFile('crontab', ['-l'], { env: minimal, timeout: 10_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return done({ kind: 'text', text: stdout });
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return done({ kind: 'not-installed' });
      const message = (stderr.trim() || err.message).split('\n')[0]!;
      // Debian, cronie and busybox all say "no crontab for <user>".
      done(/no crontab/i.test(message) ? { kind: 'none', message } : { kind: 'error', message });
    });
  });
}

/** Where systemd looks for system units, in its order ($SYSTEMD_UNIT_PATH first, as systemd itself honours it; an empty entry adds these). */
const UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/lib/systemd/system', '/usr/lib/systemd/system'];

/**
 * Finds medic-check.timer: the first unit file of that name on systemd's unit path, its OnCalendar=
 * lines, and, when systemd runs here (/run/systemd/system exists), whether `systemctl is-enabled`
 * says it is enabled. In a container without systemd, the file alone. Null: no such unit file.
 */
export async function findSystemdTimer(env: NodeJS.ProcessEnv): Promise<TimerRead | null> {
  const given = env.SYSTEMD_UNIT_PATH;
  const dirs = given ? given.split(':').flatMap((d) => (d === '' ? UNIT_DIRS : [d])) : UNIT_DIRS;
  for (const dir of dirs) {
    const file = join(dir, CHECK_TIMER);
    const text = readUnit(file);
    if (text === null) continue;
    const onCalendar = unitValues(text, 'OnCalendar');
    // The service the timer starts, beside it (as `medic init --systemd` writes them).
    const serviceFile = join(dir, CHECK_SERVICE);
    const serviceText = readUnit(serviceFile);
    const service = serviceText === null ? null : { file: serviceFile, execStart: unitValues(serviceText, 'ExecStart').at(-1)?.replace(/^[-@:+!]+/, '') ?? null };
    return { file, onCalendar, enabled: existsSync('/run/systemd/system') ? await isEnabled(CHECK_TIMER) : null, service };
  }
  return null;
}

/** A unit file's text; null when it is not there, not a regular file or over 64 KiB: a FIFO or a huge file planted on $SYSTEMD_UNIT_PATH must not hang or swamp doctor. */
function readUnit(file: string): string | null {
  try {
    const st = statSync(file);
    if (!st.isFile() || st.size > 64 * 1024) return null;
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** The values of `key=` lines in a unit file, in order. */
function unitValues(text: string, key: string): string[] {
  const re = new RegExp(`^\\s*${key}\\s*=\\s*(.*)$`);
  return text
    .split('\n')
    .map((l) => re.exec(l)?.[1]?.trim())
    .filter((v): v is string => v !== undefined && v !== '');
}

function isEnabled(unit: string): Promise<boolean | null> {
  return new Promise((done) => {
    execFile('systemctl', ['is-enabled', unit], { timeout: 10_000, encoding: 'utf8' }, (err, stdout) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') return done(null);
      done(stdout.trim() === 'enabled');
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


