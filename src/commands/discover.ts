/**
 * `medic discover [--system] [--apply] [--yes] [--json]`: reads the user's crontab (and with
 * --system /etc/crontab and /etc/cron.d/*), proposes a service for each job, and with --apply adds
 * them to a JSON config and wraps the user's own crontab lines in `medic run`. The proposal part is
 * pure (proposeJobs, slugs, graceFor, rewrittenLine); the rest reads and writes through deps.
 */
import { spawn } from 'node:child_process';
import { chownSync, closeSync, constants, lstatSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, extname, join, posix } from 'node:path';
import { checkTimeZone, nextRun, parseCron, type Cron } from '../core/cron.js';
import { formatDuration, iso } from '../core/duration.js';
import {
  CRON_DEFAULT_PATH,
  cronEscape,
  medicCalls,
  parseCrontab,
  resolveProgram,
  shQuote,
  shellWord,
  stdinMarkerAt,
  tokenize,
  type CronJob,
  type Install,
} from '../crontab.js';
import { ConfigError, EXIT, MedicError, UsageError } from '../errors.js';
import type { CrontabRead } from './doctor.js';

/** Where a job was found: `crontab` (the user's own, `crontab -l`) or a system file's path. */
export type Source = string;

/** A service proposed for one crontab job. */
export interface ProposedService {
  slug: string;
  schedule: string;
  timezone: string;
  grace: string;
}

export interface Proposal {
  source: Source;
  line: number;
  /** System crontabs only: the user the job runs as. */
  user?: string;
  command: string;
  service: ProposedService;
  /** The crontab line that runs the job through `medic run`. */
  rewritten: string;
  /** Whether --apply rewrites it: only lines of the user's own crontab, never /etc files. */
  applies: boolean;
}

export interface Skipped {
  source: Source;
  line: number;
  reason: string;
  /** A job line's command; never an environment line's value (it may be a key). */
  command?: string;
}

export interface DiscoverReport {
  proposals: Proposal[];
  skipped: Skipped[];
  notes: string[];
  /** The config the services go to (null: none found). */
  config: string | null;
  /** With --apply: what happened. */
  applied: null | { crontab: boolean; config: boolean; backup: string | null };
}

/** What the shortest gap between two runs gives as grace: 10%, in whole minutes, from 1m to 1h. */
export const GRACE_SHARE = 0.1;
export const MIN_GRACE_MS = 60_000;
export const MAX_GRACE_MS = 3_600_000;
/** How many runs graceFor looks at (a weekly pattern of several runs a day fits easily), over at most a year. */
const GAP_RUNS = 500;
const YEAR_MS = 367 * 86_400_000;

/**
 * The grace for a schedule: 10% of the shortest gap between two runs (over the next 500 runs from
 * `now`, within a year, in `zone`, so DST is taken as cron takes it), rounded down to whole
 * minutes, at least 1m and at most 1h. A schedule with fewer than two runs in that span gets 1h.
 */
export function graceFor(cron: Cron, zone: string, now: number): number {
  let shortest = Infinity;
  const first = nextRun(cron, zone, now);
  let at = first;
  // A year and a day holds every pattern a cron line has (DST nights included).
  for (let i = 0; at !== null && i < GAP_RUNS && at - first! <= YEAR_MS; i++) {
    const next = nextRun(cron, zone, at);
    if (next === null) break;
    shortest = Math.min(shortest, next - at);
    // Nothing shorter can change the answer below the floor.
    if (shortest * GRACE_SHARE <= MIN_GRACE_MS) break;
    at = next;
  }
  const share = Math.floor((shortest * GRACE_SHARE) / MIN_GRACE_MS) * MIN_GRACE_MS;
  return Math.min(MAX_GRACE_MS, Math.max(MIN_GRACE_MS, share));
}

/** Programs that only prepare the real work: a `cd /srv && ./run` is named after `run`. */
const SETUP = new Set(['cd', 'test', '[', '[[', 'sleep', 'export', 'set', 'umask', 'ulimit', 'source', '.', 'true', ':', 'mkdir', 'echo', 'printf', 'date']);
/**
 * Programs that run another one given after their options: the options of theirs that take a
 * value, and how many arguments come before the program (timeout's duration, flock's lock file).
 */
const WRAPPERS: Record<string, { values: string[]; before: number }> = {
  exec: { values: ['-a'], before: 0 },
  nice: { values: ['-n'], before: 0 },
  ionice: { values: ['-c', '-n', '-p'], before: 0 },
  nohup: { values: [], before: 0 },
  time: { values: ['-f', '-o'], before: 0 },
  sudo: { values: ['-u', '-g', '-C', '-D', '-h', '-p', '-U'], before: 0 },
  env: { values: ['-u', '-C', '-S'], before: 0 },
  chronic: { values: [], before: 0 },
  setsid: { values: [], before: 0 },
  stdbuf: { values: ['-i', '-o', '-e'], before: 0 },
  'run-one': { values: [], before: 0 },
  timeout: { values: ['-k', '-s', '--kill-after', '--signal'], before: 1 },
  flock: { values: ['-w', '-E', '--timeout', '--conflict-exit-code'], before: 1 },
};
/** Interpreters: the job is named after the script they run. */
const INTERPRETERS = /^(sh|bash|dash|zsh|ksh|python[0-9.]*|perl|ruby|php[0-9.]*|node|nodejs|Rscript|java)$/;
const SCRIPT_EXT = /\.(sh|bash|py|pl|rb|php|js|mjs|cjs|ts|jar|r)$/i;
const CONTROL_OPS = new Set([';', '&&', '||', '|', '&', '(', ')', ';;', '|&']);

/**
 * The words that name a job: its program's base name first (after `cd …&&`, wrappers such as
 * `nice`/`timeout`/`flock`, and interpreters such as `python3 script.py`), then its arguments' base
 * names, for telling two jobs of one program apart.
 */
export function jobWords(command: string): string[] {
  const tokens = tokenize(command);
  const segments: string[][] = [[]];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if ('op' in t) {
      if (CONTROL_OPS.has(t.op)) segments.push([]);
      // A redirect: its target is a file, not an argument; `2>&1` leaves a `2` behind it.
      else {
        const seg = segments[segments.length - 1]!;
        if (/^\d+$/.test(seg[seg.length - 1] ?? '') && i > 0 && 'word' in tokens[i - 1]!) seg.pop();
        if (tokens[i + 1] && 'word' in tokens[i + 1]!) i++;
      }
      continue;
    }
    segments[segments.length - 1]!.push(t.word);
  }
  const named = segments.map(programOf).filter((s): s is string[] => s !== null);
  const main = named.find((s) => !SETUP.has(s[0]!)) ?? named[0] ?? [];
  const rest = named.filter((s) => s !== main).map((s) => s[0]!);
  return [...main, ...rest].map(wordOf).filter((w) => w !== '');
}

/** A segment's program and its arguments, with assignments, wrappers and interpreters stepped over. */
function programOf(words: string[]): string[] | null {
  let i = 0;
  for (;;) {
    while (i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]!)) i++;
    const w = words[i];
    if (w === undefined) return null;
    const name = posix.basename(w);
    const wrapper = Object.hasOwn(WRAPPERS, name) ? WRAPPERS[name]! : null;
    if (wrapper) {
      i++;
      while (i < words.length && words[i]!.startsWith('-')) i += wrapper.values.includes(words[i]!) ? 2 : 1;
      while (i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]!)) i++;
      i += wrapper.before;
      continue;
    }
    if (INTERPRETERS.test(name)) {
      // The script, or `sh -c '...'`'s own words (tokenize reads the quoted text), or `python -m pkg`'s pkg.
      const args = words.slice(i + 1);
      const script = args.findIndex((a) => !a.startsWith('-'));
      return script >= 0 ? args.slice(script) : [w];
    }
    return words.slice(i);
  }
}

/** One word of a slug from a program or an argument: its base name, without a script extension. */
function wordOf(word: string): string {
  if (word.startsWith('-')) return '';
  return slugify(posix.basename(word.replace(/\/+$/, '')).replace(SCRIPT_EXT, ''));
}

/** Lower case, runs of other characters to `-`, starting with a letter or digit, at most 64 characters. */
export function slugify(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 64)
    .replace(/[-._]+$/, '');
}

/** `base-suffix`, cut so that it stays within 64 characters. */
function joined(base: string, suffix: string): string {
  return `${base.slice(0, 63 - suffix.length).replace(/[-._]+$/, '')}-${suffix}`.slice(0, 64);
}

/**
 * A slug for each job (by the words jobWords gives): the program's name; when two jobs (or an
 * existing service) would share it, the first argument word that only this job has is added
 * (`backup-db`, `backup-files`), else a number (`backup-2`). Unique, never one of `taken`, always
 * a valid slug.
 */
export function proposeSlugs(jobs: string[][], taken: Iterable<string>): string[] {
  const used = new Set(taken);
  const bases = jobs.map((words) => slugify(words[0] ?? '') || 'job');
  const count = new Map<string, number>();
  for (const b of bases) count.set(b, (count.get(b) ?? 0) + 1);
  const wanted = jobs.map((words, i) => {
    const base = bases[i]!;
    if (count.get(base) === 1 && !used.has(base)) return base;
    const others = jobs.filter((w, j) => j !== i && bases[j] === base);
    const word = words.slice(1).find((w) => w !== base && !others.some((o) => o.slice(1).includes(w)));
    return word === undefined ? base : joined(base, word);
  });
  return wanted.map((slug) => {
    let out = slug;
    for (let n = 2; used.has(out); n++) out = joined(slug, String(n));
    used.add(out);
    return out;
  });
}

/**
 * How a crontab line with PATH `cronPath` starts this medic: bare `medic` when cron finds this very
 * install on that PATH (and this node), else its absolute path; with a `node` in front when cron's
 * PATH finds another node or none (a PATH=... prefix would change the job's own PATH).
 */
export function medicProgram(install: Install, cronPath: string, home: string, isExecutable: (path: string) => boolean, realpath: (path: string) => string): string {
  const same = (found: string | null, mine: string) => {
    if (found === null) return false;
    try {
      return realpath(found) === realpath(mine);
    } catch {
      return false;
    }
  };
  const nodeOk = same(resolveProgram('node', cronPath, home, isExecutable), install.nodePath);
  if (nodeOk && same(resolveProgram('medic', cronPath, home, isExecutable), install.binPath)) return 'medic';
  const bin = cronEscape(shellWord(install.binPath));
  return nodeOk ? bin : `${cronEscape(shellWord(install.nodePath))} ${bin}`;
}

/**
 * The crontab line that runs `job` through `medic run`: the line as written up to its command, then
 * `<medic> [--config <file>] run <slug> -- <shell> -c '<the command, quoted for sh>'`. The command
 * stays as cron read it (a `\%` stays `\%`: cron turns it into `%` before the shell sees it, inside
 * the quotes as well); the shell is the crontab's SHELL, else /bin/sh, as cron's own.
 */
export function rewrittenLine(rawLine: string, job: CronJob, medic: string, configFile: string | null, slug: string): string {
  const line = rawLine.trimEnd();
  const head = line.slice(0, line.length - job.command.length);
  const config = configFile === null ? '' : ` --config ${cronEscape(shellWord(configFile))}`;
  const shell = cronEscape(shellWord(job.env.SHELL ?? '/bin/sh'));
  return `${head}${medic}${config} run ${slug} -- ${shell} -c ${shQuote(job.command)}`;
}

/** A crontab's text and where it came from. */
export interface CrontabText {
  source: Source;
  text: string;
  system: boolean;
}

export interface ProposeOptions {
  /** Slugs of the services already in the config. */
  taken: string[];
  /** The machine's zone (what cron runs jobs in without CRON_TZ/TZ). */
  zone: string;
  now: number;
  install: Install;
  home: string;
  isExecutable: (path: string) => boolean;
  realpath: (path: string) => string;
  configFile: string | null;
}

/** Every job of these crontabs with a proposed service, or why it is left alone. */
export function proposeJobs(crontabs: CrontabText[], opts: ProposeOptions): { proposals: Proposal[]; skipped: Skipped[] } {
  const skipped: Skipped[] = [];
  const found: { tab: CrontabText; raw: string; job: CronJob; schedule: string; zone: string; grace: number }[] = [];
  for (const tab of crontabs) {
    const parsed = parseCrontab(tab.text, { system: tab.system });
    const lines = tab.text.split('\n');
    for (const lineNo of parsed.comments) skipped.push({ source: tab.source, line: lineNo, reason: 'a comment' });
    for (const s of parsed.settings) skipped.push({ source: tab.source, line: s.lineNo, reason: `an environment line (${s.name}=…)` });
    for (const lineNo of parsed.unreadable) skipped.push({ source: tab.source, line: lineNo, reason: 'not a line cron reads as a job' });
    for (const job of parsed.jobs) {
      const skip = (reason: string, showCommand = true) => skipped.push({ source: tab.source, line: job.lineNo, reason, ...(showCommand && { command: job.command }) });
      const schedule = job.schedule.startsWith('@') ? job.schedule.toLowerCase() : job.schedule;
      if (schedule === '@reboot') {
        skip('@reboot: it runs once at boot, there is no schedule to expect it on');
        continue;
      }
      // A key may be in front of medic on such a line: its command is not repeated.
      if (medicCalls(job.command).length > 0 || /(^|[\s/;&|(])medic(\s|$)/.test(job.command)) {
        skip('it already runs medic', false);
        continue;
      }
      if (stdinMarkerAt(job.command) >= 0) {
        skip("it has a % without a backslash: cron's stdin marker (cut there, the rest is the job's input); escape it as \\% or move the command into a script");
        continue;
      }
      let cron: Cron;
      try {
        cron = parseCron(schedule);
      } catch (err) {
        skip(`its schedule "${schedule}" is not one Medic reads (${(err as Error).message})`);
        continue;
      }
      const tz = job.env.CRON_TZ ?? job.env.TZ;
      let zone = opts.zone;
      if (tz !== undefined && tz !== '') {
        try {
          checkTimeZone(tz.replace(/^:/, ''));
          zone = new Intl.DateTimeFormat('en-US', { timeZone: tz.replace(/^:/, '') }).resolvedOptions().timeZone;
        } catch {
          skip(`the crontab sets ${job.env.CRON_TZ !== undefined ? 'CRON_TZ' : 'TZ'}="${tz}", which is not an IANA time zone Medic knows; set a zone like "Europe/Berlin"`);
          continue;
        }
      }
      found.push({ tab, raw: lines[job.lineNo - 1]!, job, schedule, zone, grace: graceFor(cron, zone, opts.now) });
    }
  }
  const slugs = proposeSlugs(
    found.map((f) => jobWords(f.job.command)),
    opts.taken,
  );
  const proposals = found.map((f, i): Proposal => {
    const path = f.job.env.PATH ?? CRON_DEFAULT_PATH;
    const medic = medicProgram(opts.install, path, f.job.env.HOME ?? opts.home, opts.isExecutable, opts.realpath);
    return {
      source: f.tab.source,
      line: f.job.lineNo,
      ...(f.job.user !== undefined && { user: f.job.user }),
      command: f.job.command,
      service: { slug: slugs[i]!, schedule: f.schedule, timezone: f.zone, grace: formatDuration(f.grace) },
      rewritten: rewrittenLine(f.raw, f.job, medic, opts.configFile, slugs[i]!),
      applies: !f.tab.system,
    };
  });
  skipped.sort((a, b) => (a.source === b.source ? a.line - b.line : 0));
  return { proposals, skipped };
}

/** The crontab text with the proposals' lines replaced (everything else byte for byte as it was). */
export function rewriteCrontab(text: string, proposals: Proposal[]): string {
  const lines = text.split('\n');
  for (const p of proposals) if (p.applies) lines[p.line - 1] = p.rewritten;
  const out = lines.join('\n');
  // cron ignores a last line without a newline.
  return out.endsWith('\n') ? out : `${out}\n`;
}

/** The crontab's changes, line by line: `line N:`, the old line after `-`, the new one after `+`. */
export function crontabDiff(text: string, proposals: Proposal[]): string[] {
  const lines = text.split('\n');
  return proposals.filter((p) => p.applies).flatMap((p) => [`line ${p.line}:`, `- ${lines[p.line - 1]}`, `+ ${p.rewritten}`]);
}

/**
 * A short line diff of two texts: the lines that differ between the common start and the common
 * end, with up to two lines of context around them, `-`/`+`/` ` in front.
 */
export function lineDiff(before: string, after: string): string[] {
  const a = before.replace(/\n$/, '').split('\n');
  const b = after.replace(/\n$/, '').split('\n');
  if (before === '') a.length = 0;
  // Pair lines from the start and the end; between them, a longest common subsequence.
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const ops: { kind: ' ' | '-' | '+'; text: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push({ kind: ' ', text: a[i]! });
      i++;
      j++;
    } else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) ops.push({ kind: '-', text: a[i++]! });
    else ops.push({ kind: '+', text: b[j++]! });
  }
  const near = ops.map((_, k) => ops.slice(Math.max(0, k - 2), k + 3).some((o) => o.kind !== ' '));
  const out: string[] = [];
  ops.forEach((o, k) => {
    if (near[k]) out.push(`${o.kind} ${o.text}`);
    else if (near[k - 1]) out.push('  …');
  });
  return out;
}

/** Debian cron reads a file in /etc/cron.d only if its name is made of these (no dots: not a .dpkg-old). */
const CRON_D_NAME = /^[A-Za-z0-9_-]+$/;

/** A system crontab read for --system: its text, or why it could not be read. */
export interface SystemFile {
  file: string;
  text: string | null;
  error?: string;
}

/** /etc/crontab and the files of /etc/cron.d that cron reads (a folder given as an argument, for tests). */
export function readSystemCrontabs(etc = '/etc', list: (dir: string) => string[], read: (file: string) => string): SystemFile[] {
  const out: SystemFile[] = [];
  const one = (file: string) => {
    try {
      out.push({ file, text: read(file) });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') out.push({ file, text: null, error: code ?? (err as Error).message });
    }
  };
  one(join(etc, 'crontab'));
  let names: string[] = [];
  try {
    names = list(join(etc, 'cron.d')).sort();
  } catch {
    // no /etc/cron.d: nothing more to read
  }
  for (const name of names) if (CRON_D_NAME.test(name)) one(join(etc, 'cron.d', name));
  return out;
}

export interface DiscoverInput {
  system: boolean;
  apply: boolean;
  yes: boolean;
}

export interface DiscoverDeps {
  readCrontab: () => Promise<CrontabRead>;
  /** Installs a new crontab for this user (`crontab -`); throws a MedicError when cron refuses it. */
  installCrontab: (text: string) => Promise<void>;
  readSystem: () => SystemFile[];
  /** The config file and its parsed contents; throws a ConfigError when there is none. */
  findConfig: () => Promise<{ file: string; raw: unknown }>;
  /** Validates a whole config; throws the ConfigError that names every problem. */
  checkConfig: (raw: unknown, file: string) => void;
  zone: string;
  now: () => number;
  install: Install;
  home: string;
  isExecutable: (path: string) => boolean;
  realpath: (path: string) => string;
  /** Asks a yes/no question on the terminal; null when there is none. */
  confirm: ((question: string) => Promise<boolean>) | null;
  /** Lines for the person at the terminal with --apply (the proposals, the diffs, what was done). */
  say: (text: string) => void;
}

/**
 * Lists the jobs with their proposals; with `apply`, after the diffs and a yes (or --yes), writes a
 * backup of the crontab next to the config, the config, then the crontab: all or nothing.
 */
export async function discover(input: DiscoverInput, deps: DiscoverDeps): Promise<DiscoverReport> {
  const notes: string[] = [];
  const read = await deps.readCrontab();
  if (read.kind === 'not-installed') {
    throw new MedicError('the crontab command is not installed, so there is no crontab to read', EXIT.config, 'install cron (Debian/Ubuntu: apt-get install cron)');
  }
  if (read.kind === 'error') throw new MedicError(`cannot read this user's crontab: ${read.message}`, EXIT.tempfail, 'run `crontab -l` to see why');
  const userText = read.kind === 'text' ? read.text : '';
  if (read.kind === 'none') notes.push(`this user has no crontab (${read.message})`);

  let found: { file: string; raw: unknown } | null = null;
  try {
    found = await deps.findConfig();
  } catch (err) {
    if (input.apply) throw err;
    notes.push(`no config read (${(err as Error).message.split('\n')[0]}): slugs are not checked against existing services, and --apply needs one (medic init writes it)`);
  }
  const taken = servicesOf(found?.raw).flatMap((s) => (s !== null && typeof s === 'object' && typeof (s as { slug?: unknown }).slug === 'string' ? [(s as { slug: string }).slug] : []));

  const crontabs: CrontabText[] = [{ source: 'crontab', text: userText, system: false }];
  if (input.system) {
    for (const f of deps.readSystem()) {
      if (f.text === null) notes.push(`cannot read ${f.file} (${f.error}): its jobs are not listed`);
      else crontabs.push({ source: f.file, text: f.text, system: true });
    }
  }
  const { proposals, skipped } = proposeJobs(crontabs, {
    taken,
    zone: deps.zone,
    now: deps.now(),
    install: deps.install,
    home: deps.home,
    isExecutable: deps.isExecutable,
    realpath: deps.realpath,
    configFile: found?.file ?? null,
  });
  if (input.system && proposals.some((p) => !p.applies)) {
    notes.push('jobs from /etc files are listed only: medic discover never edits them; to monitor one, add its service to the config and change its line by hand as shown (the job runs as the user named on it, who must be able to read the config and write the database)');
  }
  const report: DiscoverReport = { proposals, skipped, notes, config: found?.file ?? null, applied: null };
  if (!input.apply || !found) return report;
  for (const line of discoverText(report)) deps.say(line);

  const mine = proposals.filter((p) => p.applies);
  if (mine.length === 0) {
    report.notes.push('nothing to apply: no job of this user\'s crontab needs a service');
    report.applied = { crontab: false, config: false, backup: null };
    return report;
  }
  const newCrontab = rewriteCrontab(userText, mine);
  const raw = found.raw as Record<string, unknown>;
  const services = mine.map((p) => p.service);
  const newRaw = { ...raw, services: [...servicesOf(raw), ...services] };
  deps.checkConfig(newRaw, found.file);

  const file = found.file;
  if (extname(file) !== '.json' || basename(file) === 'package.json') {
    deps.say(`medic discover --apply edits JSON configs only; ${file} is not one, so nothing was changed. Add these services to it:`);
    deps.say(JSON.stringify(services, null, 2));
    deps.say('then replace these crontab lines with `crontab -e`:');
    for (const line of crontabDiff(userText, mine)) deps.say(line);
    report.applied = { crontab: false, config: false, backup: null };
    return report;
  }
  const oldConfig = readFileSync(file, 'utf8');
  const indent = /^[{[]\n([ \t]+)/.exec(oldConfig)?.[1] ?? '  ';
  const newConfig = `${JSON.stringify(newRaw, null, indent)}\n`;

  deps.say('The crontab (`crontab -l`) would change like this:');
  for (const line of crontabDiff(userText, mine)) deps.say(line);
  deps.say(`${file} would change like this:`);
  for (const line of lineDiff(oldConfig, newConfig)) deps.say(line);
  if (!input.yes) {
    if (deps.confirm === null) {
      throw new UsageError('medic discover --apply asks before it changes anything, and there is no terminal to ask on: nothing was changed', 'run it on a terminal, or add --yes to apply without asking');
    }
    if (!(await deps.confirm(`Apply: add ${services.length} service${services.length === 1 ? '' : 's'} to ${file} and install the new crontab? [y/N] `))) {
      deps.say('Nothing was changed.');
      report.applied = { crontab: false, config: false, backup: null };
      return report;
    }
  }
  // The crontab must still be the one the diff was made from.
  const again = await deps.readCrontab();
  const againText = again.kind === 'text' ? again.text : again.kind === 'none' ? '' : null;
  if (againText !== userText) {
    throw new MedicError("the crontab changed while medic discover was running: nothing was changed", EXIT.tempfail, 'run medic discover --apply again');
  }
  const backup = writeBackup(dirname(file), userText, deps.now());
  try {
    replaceFile(file, newConfig);
  } catch (err) {
    rmSync(backup, { force: true });
    throw err;
  }
  try {
    await deps.installCrontab(newCrontab);
  } catch (err) {
    try {
      replaceFile(file, oldConfig);
    } catch (undo) {
      throw new ConfigError(
        `crontab - failed (${(err as Error).message}), and putting ${file} back failed too (${(undo as Error).message})`,
        `the old config is in your editor's hands now: remove the services ${services.map((s) => s.slug).join(', ')} from ${file}; the crontab is unchanged (its copy: ${backup})`,
      );
    }
    rmSync(backup, { force: true });
    throw err;
  }
  report.applied = { crontab: true, config: true, backup };
  deps.say(`Added ${services.length} service${services.length === 1 ? '' : 's'} to ${file} and installed the new crontab. The old crontab is in ${backup}: \`crontab ${backup}\` puts it back.`);
  return report;
}

function servicesOf(raw: unknown): unknown[] {
  const s = raw !== null && typeof raw === 'object' ? (raw as { services?: unknown }).services : undefined;
  return Array.isArray(s) ? s : [];
}

/** `crontab.<UTC time>.bak` beside the config, mode 600, never over an existing file or through a link. */
function writeBackup(dir: string, text: string, now: number): string {
  const stamp = iso(now).replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  for (let n = 1; ; n++) {
    const file = join(dir, `crontab.${stamp}${n === 1 ? '' : `-${n}`}.bak`);
    let fd: number;
    try {
      fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && n < 100) continue;
      throw new ConfigError(`cannot write the crontab's backup ${file}: ${code ?? (err as Error).message}; nothing was changed`, "check that this user can write to the config's folder");
    }
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
    return file;
  }
}

/** Replaces `file` by a new one with `text` (temp file + rename), keeping its mode and owner; never through a link. */
function replaceFile(file: string, text: string): void {
  const cannot = (err: unknown) =>
    new ConfigError(`cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; the crontab was not changed`, 'check that this user can write the config and its folder');
  if (lstatSync(file).isSymbolicLink()) {
    throw new ConfigError(`${file} is a symbolic link; medic discover does not write through links, and nothing was changed`, 'pass the file it points to with --config');
  }
  const st = statSync(file);
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, st.mode & 0o777);
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
    if (st.uid !== process.geteuid?.()) chownSync(tmp, st.uid, st.gid);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw cannot(err);
  }
}

/** Installs `text` as this user's crontab with `crontab -` (found on env's PATH, given only what it needs). */
export function installUserCrontab(env: NodeJS.ProcessEnv): (text: string) => Promise<void> {
  const minimal: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME', 'USER', 'LOGNAME']) if (env[name] !== undefined) minimal[name] = env[name];
  return (text) =>
    new Promise((done, fail) => {
      const child = spawn('crontab', ['-'], { env: minimal, stdio: ['pipe', 'ignore', 'pipe'], timeout: 10_000 });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s.slice(0, 4000)));
      child.on('error', (err) => fail(new MedicError(`cannot run crontab -: ${(err as NodeJS.ErrnoException).code ?? err.message}`, EXIT.tempfail, 'install cron; nothing was changed')));
      child.on('close', (code) => {
        if (code === 0) return done();
        const said = stderr.trim().split('\n').slice(0, 3).join('; ');
        fail(new MedicError(`crontab - refused the new crontab (exit ${code}${said ? `: ${said}` : ''}); the config was put back as it was`, EXIT.tempfail, 'run `crontab -l` and `crontab -e` to see why'));
      });
      child.stdin.on('error', () => {});
      child.stdin.end(text);
    });
}

/** The report for a person: one block per proposal, then what was left alone and why. */
export function discoverText(report: DiscoverReport): string[] {
  const out: string[] = [];
  const where = (source: Source, line: number) => (source === 'crontab' ? `crontab line ${line}` : `${source} line ${line}`);
  if (report.proposals.length === 0) out.push('No job to propose a service for.');
  for (const p of report.proposals) {
    const s = p.service;
    out.push(`${where(p.source, p.line)}${p.user ? ` (as ${p.user})` : ''}: ${cut(p.command)}`);
    out.push(`  service: ${s.slug}  schedule "${s.schedule}"  timezone ${s.timezone}  grace ${s.grace}`);
    out.push(`  new line: ${p.rewritten}`);
  }
  const jobs = report.skipped.filter((s) => s.reason !== 'a comment' && !s.reason.startsWith('an environment line'));
  const quiet = report.skipped.length - jobs.length;
  if (jobs.length > 0) out.push('Left alone:');
  for (const s of jobs) out.push(`  ${where(s.source, s.line)}: ${s.reason}${s.command !== undefined ? `: ${cut(s.command)}` : ''}`);
  if (quiet > 0) out.push(`${quiet} comment and environment line${quiet === 1 ? '' : 's'} stay as they are.`);
  for (const n of report.notes) out.push(`Note: ${n}`);
  return out;
}

function cut(text: string): string {
  return text.length > 100 ? `${text.slice(0, 99)}…` : text;
}
