/**
 * Reading a crontab the way cron does, for `medic doctor` and `medic discover`, and writing the
 * lines `medic init`, `medic doctor` and `medic discover` print. Parsing is pure; whether a file is
 * an executable comes in as a function.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, posix } from 'node:path';
import { parseCron } from './core/cron.js';

/** The PATH cron gives its jobs when the crontab sets none (Debian, cronie, busybox). */
export const CRON_DEFAULT_PATH = '/usr/bin:/bin';

/** One job line of a crontab. */
export interface CronJob {
  /** 1-based line number in the crontab text. */
  lineNo: number;
  /** The five fields, or a macro such as `@hourly` / `@reboot`. */
  schedule: string;
  command: string;
  /** The NAME=value lines above it (cron gives a job the settings made before its line). */
  env: Record<string, string>;
  /** Only in a system crontab (/etc/crontab, /etc/cron.d/*): the user field, who the job runs as. */
  user?: string;
}

export interface ParsedCrontab {
  jobs: CronJob[];
  /** Lines that would be jobs without their leading `#`. */
  commented: CronJob[];
  /** Every NAME=value line, in order. */
  settings: { lineNo: number; name: string; value: string }[];
  /** Line numbers of every comment line (commented-out jobs included). */
  comments: number[];
  /** Lines that are none of these: cron would refuse the crontab over them. */
  unreadable: number[];
}

const SETTING = /^([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*)$/s;

/**
 * A line without its leading and trailing blanks: spaces and tabs only, as cron skips them. JS's
 * trim() and \s also take NBSP, U+FEFF, U+3000, \f, \v: cron keeps those, and so does sh (they
 * are not in its IFS), so `rm -rf /x/cache<NBSP>` names another folder than `/x/cache`.
 */
export function trimBlanks(text: string): string {
  return text.replace(/^[ \t]+|[ \t]+$/g, '');
}

/**
 * Splits a crontab into settings and job lines (comments and blank lines dropped). A system crontab
 * (`system`: /etc/crontab, /etc/cron.d/*) has a user field between the schedule and the command.
 */
export function parseCrontab(text: string, opts: { system?: boolean } = {}): ParsedCrontab {
  const out: ParsedCrontab = { jobs: [], commented: [], settings: [], comments: [], unreadable: [] };
  const jobLine = opts.system ? systemJobLine : userJobLine;
  const env: Record<string, string> = {};
  text.split('\n').forEach((raw, i) => {
    const line = trimBlanks(raw);
    const lineNo = i + 1;
    if (line === '') return;
    if (line.startsWith('#')) {
      out.comments.push(lineNo);
      // Only what looks like a schedule (not a "# m h dom mon dow command" header).
      const rest = line.replace(/^#+[ \t]*/, '');
      const job = /^[\d*@]/.test(rest) ? jobLine(rest, lineNo, env) : null;
      if (job) out.commented.push(job);
      return;
    }
    const setting = SETTING.exec(line);
    if (setting) {
      const value = unquote(trimBlanks(setting[2]!));
      env[setting[1]!] = value;
      out.settings.push({ lineNo, name: setting[1]!, value });
      return;
    }
    const job = jobLine(line, lineNo, env);
    if (job) out.jobs.push(job);
    else out.unreadable.push(lineNo);
  });
  return out;
}

function systemJobLine(line: string, lineNo: number, env: Record<string, string>): CronJob | null {
  const job = userJobLine(line, lineNo, env);
  const m = job && /^([^ \t]+)[ \t]+(.+)$/s.exec(job.command);
  return job && m ? { ...job, user: m[1]!, command: m[2]! } : null;
}

function userJobLine(line: string, lineNo: number, env: Record<string, string>): CronJob | null {
  if (line.startsWith('@')) {
    const m = /^(@[^ \t]+)[ \t]+(.+)$/s.exec(line);
    return m ? { lineNo, schedule: m[1]!, command: m[2]!, env: { ...env } } : null;
  }
  const m = /^([^ \t]+[ \t]+[^ \t]+[ \t]+[^ \t]+[ \t]+[^ \t]+[ \t]+[^ \t]+)[ \t]+(.+)$/s.exec(line);
  return m ? { lineNo, schedule: m[1]!.replace(/[ \t]+/g, ' '), command: m[2]!, env: { ...env } } : null;
}

/** Whether a schedule runs every minute; otherwise why not, in words. */
export function everyMinute(schedule: string): { ok: true } | { ok: false; why: string } {
  let cron;
  try {
    cron = parseCron(schedule);
  } catch (err) {
    return { ok: false, why: `its schedule "${schedule}" never runs (${(err as Error).message})` };
  }
  const all = cron.minutes.size === 60 && cron.hours.size === 24 && cron.months.size === 12;
  const days = cron.days.size === 31 && cron.weekdays.size === 7;
  return all && days ? { ok: true } : { ok: false, why: `its schedule "${schedule}" is not every minute` };
}

type Token = { word: string; script: boolean } | { op: string };

/**
 * Shell-like words and operators; quotes group, `;&|<>()` separate. Enough to find a command and
 * its arguments. A word that is one quoted string with spaces in it (`sh -c '...'`) is a command
 * line itself, and is read as one.
 */
export function tokenize(command: string): Token[] {
  const out: Token[] = [];
  let word: string | null = null;
  let quotedOnly = false;
  const end = () => {
    if (word !== null) out.push({ word, script: quotedOnly && /[ \t\n]/.test(word) });
    word = null;
  };
  const append = (text: string, quoted: boolean) => {
    quotedOnly = word === null ? quoted : quotedOnly && quoted;
    word = (word ?? '') + text;
  };
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!;
    // sh splits words on its IFS (space, tab, newline) only.
    if (c === ' ' || c === '\t' || c === '\n') end();
    else if (c === "'" || c === '"') {
      const close = command.indexOf(c, i + 1);
      const to = close < 0 ? command.length : close;
      append(command.slice(i + 1, to), true);
      i = to;
    } else if (c === '\\' && i + 1 < command.length) append(command[++i]!, false);
    else if (';&|<>()'.includes(c)) {
      end();
      let op = c;
      while (i + 1 < command.length && ';&|<>'.includes(command[i + 1]!)) op += command[++i];
      out.push({ op });
    } else append(c, false);
  }
  end();
  return out.flatMap((t) => ('word' in t && t.script ? tokenize(t.word) : [t]));
}

/** One call of medic inside a job's command. */
export interface MedicCall {
  /** The word that names medic, as written (`medic`, `/usr/local/bin/medic`, `./bin/medic`). */
  program: string;
  /** NAME=value words right in front of it (`PATH=... medic`). */
  prefix: Record<string, string>;
  /** `node` when the line starts medic through it (`node /opt/medic/bin/medic check`). */
  runner: string | null;
  /** The medic command (`check`, `beat`, ...), or null when none is given. */
  command: string | null;
  /** --config / -c, as written. */
  config: string | null;
  dryRun: boolean;
}

const OPTION_WITH_VALUE = new Set(['-c', '--config', '--since', '--for', '--reason', '--team', '--target', '-m', '--timeout']);

/** Every call of medic in a command line. */
export function medicCalls(command: string): MedicCall[] {
  const tokens = tokenize(command);
  const calls: MedicCall[] = [];
  tokens.forEach((t, i) => {
    if (!('word' in t) || posix.basename(t.word) !== 'medic') return;
    const prefix: Record<string, string> = {};
    const before = tokens[i - 1];
    const runner = before && 'word' in before && /^node(js)?$/.test(posix.basename(before.word)) ? before.word : null;
    for (let j = runner === null ? i - 1 : i - 2; j >= 0; j--) {
      const p = tokens[j]!;
      const m = 'word' in p ? SETTING.exec(p.word) : null;
      if (!m) break;
      prefix[m[1]!] ??= m[2]!;
    }
    const call: MedicCall = { program: t.word, prefix, runner, command: null, config: null, dryRun: false };
    for (let j = i + 1; j < tokens.length; j++) {
      const a = tokens[j]!;
      if (!('word' in a)) break;
      const w = a.word;
      if (w === '--dry-run') call.dryRun = true;
      else if (w.startsWith('--config=')) call.config = w.slice('--config='.length);
      else if (OPTION_WITH_VALUE.has(w)) {
        const value = tokens[j + 1];
        if (value && 'word' in value && (w === '-c' || w === '--config')) call.config = value.word;
        j++;
      } else if (!w.startsWith('-') && call.command === null) call.command = w;
    }
    calls.push(call);
  });
  return calls;
}

/** Where cron would run `program` from, or null when it cannot find it. */
export function resolveProgram(program: string, pathValue: string, home: string, isExecutable: (path: string) => boolean): string | null {
  if (program.includes('/')) {
    const full = isAbsolute(program) ? program : join(home, program);
    return isExecutable(full) ? full : null;
  }
  for (const dir of pathValue.split(':')) {
    if (dir !== '' && isAbsolute(dir) && isExecutable(join(dir, program))) return join(dir, program);
  }
  return null;
}

/** The line that runs the checker as cron would, and what is wrong with it, if anything. */
export interface CheckerLine {
  job: CronJob;
  call: MedicCall;
  /** The PATH cron runs the call with. */
  path: string;
  /** Where cron finds medic; null: it does not. */
  medicAt: string | null;
  /** Why this line does not run the checker properly; empty when it does. */
  problems: string[];
}

/**
 * The crontab lines that call `medic … check`, each with what is wrong with it: only a line that
 * runs it every minute (not `--dry-run`) with a medic cron can find (an absolute path that is
 * there, or a PATH that holds one) runs the checker.
 */
export function checkerLines(crontab: ParsedCrontab, home: string, isExecutable: (path: string) => boolean): CheckerLine[] {
  const out: CheckerLine[] = [];
  for (const job of crontab.jobs) {
    for (const call of medicCalls(job.command)) {
      if (call.command !== 'check') continue;
      const path = call.prefix.PATH ?? job.env.PATH ?? CRON_DEFAULT_PATH;
      const medicAt = resolveProgram(call.program, path, job.env.HOME ?? home, isExecutable);
      const problems: string[] = [];
      const schedule = everyMinute(job.schedule);
      if (!schedule.ok) problems.push(schedule.why);
      if (call.dryRun) problems.push('it runs `medic check --dry-run`, which records and sends nothing');
      if (medicAt === null) {
        problems.push(
          call.program.includes('/')
            ? `cron cannot run ${call.program}: there is no executable file there`
            : `cron cannot find a bare \`medic\` on its PATH (${path})`,
        );
      }
      // medic is a Node program: cron must find node too.
      const node = call.runner ?? 'node';
      if (resolveProgram(node, path, job.env.HOME ?? home, isExecutable) === null) {
        problems.push(node.includes('/') ? `cron cannot run ${node}: there is no executable file there` : `cron cannot find node, which medic needs, on its PATH (${path})`);
      }
      out.push({ job, call, path, medicAt, problems });
    }
  }
  return out;
}

/** Commented-out lines that would call `medic … check`. */
export function commentedChecker(crontab: ParsedCrontab): CronJob | null {
  return crontab.commented.find((j) => medicCalls(j.command).some((c) => c.command === 'check')) ?? null;
}

/** The medic and node of this install, for the lines Medic prints. */
export interface Install {
  /** Absolute path of the medic executable. */
  binPath: string;
  /** Absolute path of the node binary running it. */
  nodePath: string;
}

/**
 * A command line that runs this medic from cron (or any minimal environment): its absolute path,
 * after `PATH=<node's folder>:/usr/bin:/bin` when cron's default PATH has no node there.
 */
export function medicCommand(install: Install, args: string[]): string {
  const nodeDir = dirname(install.nodePath);
  const prefix = CRON_DEFAULT_PATH.split(':').includes(nodeDir) ? '' : `PATH=${shellWord(`${nodeDir}${delimiter}${CRON_DEFAULT_PATH}`)} `;
  return `${prefix}${[install.binPath, ...args].map(shellWord).join(' ')}`;
}

/** The crontab line that runs the checker every minute with this config (null: not known yet). */
export function checkerCrontabLine(install: Install, configFile: string | null): string {
  const line = `* * * * * ${medicCommand(install, ['--config', configFile ?? 'CONFIG', 'check'])}`;
  return configFile === null ? line.replace('--config CONFIG', '--config <your config file>') : line;
}

/**
 * Where cron's `%` handling applies to a command field: the offset of the first `%` without a
 * backslash in front (cron ends the command there and hands the rest to the job's stdin, each
 * further `%` a newline), or -1 when there is none. `\%` is a literal `%`.
 */
export function stdinMarkerAt(command: string): number {
  let escaped = false;
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!;
    if (escaped) escaped = false;
    else if (c === '\\') escaped = true;
    else if (c === '%') return i;
  }
  return -1;
}

/**
 * What cron hands its shell for a command field (Debian cron's do_command.c): the text up to the
 * first `%` without a backslash in front, with each `\%` turned into `%` (other backslashes stay).
 */
export function cronShellText(command: string): string {
  let out = '';
  let escaped = false;
  for (const c of command) {
    if (escaped) {
      out = c === '%' ? `${out.slice(0, -1)}%` : out + c;
      escaped = false;
      continue;
    }
    if (c === '%') break;
    if (c === '\\') escaped = true;
    out += c;
  }
  return out;
}

/** A `%` of Medic's own (a path) on a crontab line: escaped, so that cron passes it on as it is. */
export function cronEscape(text: string): string {
  return text.replace(/%/g, '\\%');
}

/** Any text as one word for sh, always in single quotes (a `'` inside becomes `'\''`). */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A word for sh: as it is when safe, else in single quotes. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:=@+,-]+$/.test(s) ? s : shQuote(s);
}

/** Whether a path is a file this process could execute (what cron will try). */
export function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function unquote(s: string): string {
  return s.replace(/^(['"])(.*)\1$/, '$2');
}
