/**
 * docs/systemd.md explains these units line by line.
 *
 * The systemd units `medic init --systemd` writes: medic-check.service + medic-check.timer (the
 * checker every minute, instead of a crontab line) and medic-serve.service (medic serve, hardened).
 * Pure: what the units need about this install and its config comes in as a UnitPlan.
 */
import { posix } from 'node:path';
import { UsageError } from './errors.js';

export const CHECK_SERVICE = 'medic-check.service';
export const CHECK_TIMER = 'medic-check.timer';
export const SERVE_SERVICE = 'medic-serve.service';
/** systemd's own credential store (systemd.exec(5)): root's, mode 0700; the units load credentials from it. */
export const CREDSTORE = '/etc/credstore';
/** The StateDirectory= both units get: /var/lib/medic, writable by them under ProtectSystem=strict. */
export const STATE_DIR = '/var/lib/medic';

/** Where systemd puts the credentials of a unit (what $CREDENTIALS_DIRECTORY names inside it). */
export function credentialsDir(unit: string): string {
  return `/run/credentials/${unit}`;
}

export interface UnitPlan {
  nodePath: string;
  binPath: string;
  /** The config's absolute path: the units pass it with --config. */
  configFile: string;
  /** The user the units run medic as (User=): the owner of the config, the database and the key files. */
  user: string;
  /** Folders medic writes besides /var/lib/medic: the SQLite database's folder, the spool. */
  writable: string[];
  /** Every file the config reads a secret from (routing keys, Slack and webhook secrets, the ping key, passwordFile), absolute. */
  secretFiles: string[];
}

export interface UnitFile {
  name: string;
  text: string;
}

/** Folders ProtectHome=yes hides; a unit that needs a path in one gets ProtectHome=read-only instead. */
const HOME_DIRS = ['/home', '/root', '/run/user'];
/** Folders PrivateTmp=yes replaces with the unit's own. */
const TMP_DIRS = ['/tmp', '/var/tmp'];

/** The three unit files, in the order they are written and printed. */
export function systemdUnits(plan: UnitPlan): UnitFile[] {
  const user = userName(plan.user);
  for (const p of [plan.nodePath, plan.binPath, plan.configFile]) checkPath(p);
  const exec = (command: string) => `ExecStart=${[plan.nodePath, plan.binPath, '--config', plan.configFile, command].map(execWord).join(' ')}`;
  const paths = [plan.nodePath, plan.binPath, plan.configFile, ...plan.writable, ...plan.secretFiles];
  const readsHome = paths.some((p) => HOME_DIRS.some((d) => within(p, d)));
  const inTmp = paths.some((p) => TMP_DIRS.some((d) => within(p, d)));
  const writable = [...new Set(plan.writable.map((p) => posix.normalize(p)))].filter((p) => !within(p, STATE_DIR));
  const hardening = (unit: string) => [
    '# Sandbox (docs/systemd.md explains each line). Node needs W+X memory for its JIT: no MemoryDenyWriteExecute.',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    readsHome
      ? '# read-only, not yes: this install (node, medic, the config or its files) lives under a home folder.\nProtectHome=read-only'
      : 'ProtectHome=yes',
    inTmp ? '# no, not yes: this install (node, medic, the config or its files) lives under /tmp, which PrivateTmp hides.\nPrivateTmp=no' : 'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectControlGroups=yes',
    'ProtectKernelLogs=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'RemoveIPC=yes',
    'RestrictNamespaces=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
    'SystemCallFilter=@system-service',
    'SystemCallArchitectures=native',
    '# A refused system call fails with EPERM instead of killing medic (libuv falls back when io_uring is refused).',
    'SystemCallErrorNumber=EPERM',
    'CapabilityBoundingSet=',
    `StateDirectory=${posix.basename(STATE_DIR)}`,
    ...(writable.length > 0 ? ['# The database folder (SQLite writes its -wal and -shm files beside it) and the spool.', `ReadWritePaths=${writable.map(pathWord).join(' ')}`] : []),
    ...credentials(unit, plan.secretFiles),
  ];
  const unitSection = (description: string) => ['[Unit]', `Description=${description}`, 'Wants=network-online.target', 'After=network-online.target'];
  const checkService = [
    `# ${CHECK_SERVICE}: one \`medic check\` run; ${CHECK_TIMER} starts it every minute.`,
    ...unitSection('Medic checker: page for services that went quiet (medic check)'),
    '',
    '[Service]',
    'Type=oneshot',
    `User=${user}`,
    exec('check'),
    ...hardening(CHECK_SERVICE),
  ];
  const timer = [
    `# ${CHECK_TIMER}: runs ${CHECK_SERVICE} every minute, like the crontab line \`* * * * * medic check\`.`,
    '[Unit]',
    'Description=Run medic check every minute',
    '',
    '[Timer]',
    'OnCalendar=minutely',
    '# systemd may otherwise start a minutely timer up to a minute late (AccuracySec=1min by default)',
    '# to batch wake-ups: a check would then lag the deadlines it judges by that much.',
    'AccuracySec=1s',
    '# No catch-up run after downtime: the next minute checks everything anyway.',
    'Persistent=false',
    '',
    '[Install]',
    'WantedBy=timers.target',
  ];
  const serveService = [
    `# ${SERVE_SERVICE}: medic serve, taking beats over HTTP (docs/serve.md).`,
    ...unitSection('Medic heartbeat ingest (medic serve)'),
    '',
    '[Service]',
    `User=${user}`,
    exec('serve'),
    'ExecReload=/bin/kill -HUP $MAINPID',
    'Restart=on-failure',
    'RestartSec=5s',
    '# A usage, data or config error (exit 64, 65, 78) does not get better by restarting.',
    'RestartPreventExitStatus=64 65 78',
    ...hardening(SERVE_SERVICE),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  ];
  return [
    { name: CHECK_SERVICE, text: `${checkService.join('\n')}\n` },
    { name: CHECK_TIMER, text: `${timer.join('\n')}\n` },
    { name: SERVE_SERVICE, text: `${serveService.join('\n')}\n` },
  ];
}

/**
 * LoadCredential= lines for the secret files the config reads from this unit's credentials folder
 * (`/run/credentials/<unit>/<id>`): systemd copies each from /etc/credstore/<id> (root's) at start.
 */
function credentials(unit: string, secretFiles: string[]): string[] {
  const dir = `${credentialsDir(unit)}/`;
  const ids = [...new Set(secretFiles.filter((f) => f.startsWith(dir)).map((f) => f.slice(dir.length)))];
  if (ids.length === 0) return [];
  for (const id of ids) credentialId(id);
  return ['# The config reads these secrets from $CREDENTIALS_DIRECTORY; systemd copies them from root-only files at start.', ...ids.map((id) => `LoadCredential=${id}:${CREDSTORE}/${id}`)];
}

/** Credential names that are safe as a file name and in a unit line. */
export function credentialId(id: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/.test(id)) {
    throw new UsageError(`${JSON.stringify(id)} cannot be a systemd credential name`, 'name the file in the credentials folder with letters, digits, _ . and - only (like "pagerduty")');
  }
  return id;
}

/** The User= value: a user name as systemd takes it, or a numeric id. */
function userName(user: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/.test(user) || /^\d+$/.test(user)) return user;
  throw new UsageError(`the user name ${JSON.stringify(user)} cannot be written in a unit's User= line`, 'run medic init --systemd as a user with a plain name');
}

/** Refuses what no quoting makes safe in a unit file: control characters (a newline would start a new setting). */
function checkPath(p: string): string {
  if (/[\x00-\x1f\x7f]/.test(p)) throw new UsageError(`the path ${JSON.stringify(p)} holds a control character and cannot go into a unit file`, 'move medic, node or the config to a path without one');
  if (!posix.isAbsolute(p)) throw new UsageError(`the path ${p} is not absolute`, 'units need absolute paths');
  return p;
}

/** Characters that need no quoting in a unit's command line or path list. */
const PLAIN = /^[A-Za-z0-9_./:@+,=-]+$/;

/**
 * One word of ExecStart= (systemd.service(5) "Command lines"): as it is when plain; else in double
 * quotes with \ and " escaped. `%` is a specifier (%% is a literal one) and `$` a variable ($$ a
 * literal one), inside quotes too.
 */
export function execWord(word: string): string {
  const escaped = word.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (PLAIN.test(word)) return escaped;
  return `"${escaped.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * The words of an ExecStart= command line, as systemd splits them (the inverse of execWord):
 * whitespace separates, double or single quotes group, a backslash escapes the next character,
 * `%%` is `%` and `$$` is `$`. Enough for doctor to read the line `medic init --systemd` writes.
 */
export function execWords(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === '"' || c === "'") {
      word ??= '';
      for (i++; i < line.length && line[i] !== c; i++) word += line[i] === '\\' && i + 1 < line.length ? line[++i] : line[i];
    } else if (c === '\\' && i + 1 < line.length) word = (word ?? '') + line[++i];
    else word = (word ?? '') + c;
  }
  if (word !== null) words.push(word);
  return words.map((w) => w.replace(/%%/g, '%').replace(/\$\$/g, '$'));
}

/** One path of ReadWritePaths= (a space-separated list; quotes group; `%` is a specifier). */
export function pathWord(p: string): string {
  checkPath(p);
  const escaped = p.replace(/%/g, '%%');
  return PLAIN.test(p) ? escaped : `"${escaped.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

function within(p: string, dir: string): boolean {
  return p === dir || p.startsWith(`${dir}/`);
}
