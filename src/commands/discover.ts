/**
 * `medic discover [--system] [--apply] [--yes] [--json]`: reads the user's crontab (and with
 * --system /etc/crontab and /etc/cron.d/*), proposes a service for each job, and with --apply adds
 * them to a JSON config and wraps the user's own crontab lines in `medic run`. The proposal part is
 * pure (proposeJobs, slugs, graceFor, rewrittenLine); the rest reads and writes through deps.
 */
import { execFile, spawn } from 'node:child_process';
import { chownSync, closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readFileSync, readSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
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
import { folderTrustProblem, writerGroup } from '../file-trust.js';
import { starterConfig } from './init.js';

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
  /**
   * The config already has this service, with this schedule (a crontab put back from its backup):
   * the line is rewritten to beat it, and --apply adds no service for it.
   */
  existing: boolean;
  /** The crontab line that runs the job through `medic run`. */
  rewritten: string;
  /** Whether --apply rewrites it: only lines of the user's own crontab, never /etc files. */
  applies: boolean;
  /** What the person should know about this proposal (a CRON_TZ= cron ignores); absent: nothing. */
  note?: string;
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

/** Programs that only check or prepare (`test -x … ||`, `cd /srv &&`): a line is named after what they guard. */
const GUARDS = new Set(['cd', 'test', '[', '[[', 'true', 'false', ':']);
/** Programs that prepare or report around the real work: a line is named after them only when nothing else runs. */
const SETUP = new Set(['sleep', 'export', 'set', 'umask', 'ulimit', 'source', '.', 'mkdir', 'echo', 'printf', 'date']);
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
/** What ends a pipeline (a list's `;`, `&&`, `||`, `&`, a subshell's parentheses). */
const LIST_OPS = new Set([';', '&&', '||', '&', '(', ')', ';;']);
const PIPE_OPS = new Set(['|', '|&']);
/** Words that group commands, negate one or start a clause, not programs: `{ cd / && run-parts …; }`, `! test …`, `if …; then …; fi`. */
const GROUPING = new Set(['{', '}', '!', 'if', 'then', 'else', 'elif', 'fi', 'while', 'until', 'do', 'done']);

/**
 * The words that name a job: the program of its first pipeline that does real work, past guards
 * joined by `&&`/`||` (`test -x … ||`, `cd … &&`), setup steps (`sleep`, `mkdir`, `echo`: named
 * after only when nothing else runs), `{ … }`, wrappers such as `nice`/`timeout`/`flock` and
 * interpreters such as `python3 script.py`; the first command of a pipeline names it
 * (`mysqldump | gzip`, `echo x | tee f`). Then its arguments' base names, then the other programs,
 * for telling two jobs of one program apart. `run-parts /etc/cron.daily` is named after its folder
 * (`cron-daily`).
 */
export function jobWords(command: string): string[] {
  const tokens = tokenize(command);
  /** Pipelines, each a list of commands, each a list of words. */
  const pipelines: string[][][] = [[[]]];
  const current = () => {
    const pipeline = pipelines[pipelines.length - 1]!;
    return pipeline[pipeline.length - 1]!;
  };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if ('op' in t) {
      if (LIST_OPS.has(t.op)) pipelines.push([[]]);
      else if (PIPE_OPS.has(t.op)) pipelines[pipelines.length - 1]!.push([]);
      // A redirect: its target is a file, not an argument; `2>&1` leaves a `2` behind it.
      else {
        const seg = current();
        if (/^\d+$/.test(seg[seg.length - 1] ?? '') && i > 0 && 'word' in tokens[i - 1]!) seg.pop();
        if (tokens[i + 1] && 'word' in tokens[i + 1]!) i++;
      }
      continue;
    }
    const seg = current();
    if (seg.length === 0 && GROUPING.has(t.word)) continue;
    seg.push(t.word);
  }
  const commands = pipelines.map((p) => p.map(programOf).filter((c): c is string[] => c !== null)).filter((p) => p.length > 0);
  const name = (p: string[][]) => posix.basename(p[0]![0]!);
  const main =
    commands.find((p) => !GUARDS.has(name(p)) && !SETUP.has(name(p))) ?? commands.find((p) => !GUARDS.has(name(p))) ?? commands[0] ?? [[]];
  const rest = commands.flatMap((p) => (p === main ? p.slice(1) : p)).map((c) => c[0]!);
  return [...runParts(main[0]!), ...rest].map(wordOf).filter((w) => w !== '');
}

/** `run-parts [options] <folder>` is named after its folder (`/etc/cron.daily` → `cron-daily`); other commands as they are. */
function runParts(words: string[]): string[] {
  if (words.length === 0 || posix.basename(words[0]!) !== 'run-parts') return words;
  const folder = words.slice(1).reverse().find((w) => !w.startsWith('-'));
  return folder === undefined ? words : [posix.basename(folder.replace(/\/+$/, '')).replace(/\./g, '-')];
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
 * a valid slug; except that a job takes over a service of `taken` when `reusable` says that
 * service is this job's (the same schedule): the slug it would get or its program's name, bare or
 * numbered (`backup-2`: what an earlier run gave it). Linear in the number of jobs: words are
 * counted per program, numbers continue where they stopped.
 */
export function proposeSlugs(jobs: string[][], taken: Iterable<string>, reusable: (slug: string, job: number) => boolean = () => false): { slug: string; existing: boolean }[] {
  const existing = new Set(taken);
  const used = new Set(existing);
  const bases = jobs.map((words) => slugify(words[0] ?? '') || 'job');
  const groups = new Map<string, number[]>();
  for (const [i, b] of bases.entries()) {
    const group = groups.get(b);
    if (group) group.push(i);
    else groups.set(b, [i]);
  }
  /** For each program shared (or taken), how many of its jobs have each argument word. */
  const shared = new Map<string, Map<string, number>>();
  for (const [base, members] of groups) {
    if (members.length === 1 && !used.has(base)) continue;
    const counts = new Map<string, number>();
    for (const i of members) for (const w of new Set(jobs[i]!.slice(1))) counts.set(w, (counts.get(w) ?? 0) + 1);
    shared.set(base, counts);
  }
  /** The taken slugs that end in a number, by what comes before it: `backup` → `backup-2`, `backup-3`. */
  const numbered = new Map<string, string[]>();
  for (const slug of existing) {
    const m = /^(.+)-\d+$/.exec(slug);
    if (!m) continue;
    const list = numbered.get(m[1]!);
    if (list) list.push(slug);
    else numbered.set(m[1]!, [slug]);
  }
  const claimed = new Set<string>();
  /** How many numbered slugs of a stem are claimed from its front: a rerun over 30,000 copies stays linear. */
  const front = new Map<string, number>();
  const own = (i: number, wanted: string, base: string): string | undefined => {
    const fits = (s: string) => existing.has(s) && !claimed.has(s) && reusable(s, i);
    if (fits(wanted)) return wanted;
    if (fits(base)) return base;
    for (const stem of wanted === base ? [base] : [wanted, base]) {
      const list = numbered.get(stem) ?? [];
      let k = front.get(stem) ?? 0;
      while (k < list.length && claimed.has(list[k]!)) k++;
      front.set(stem, k);
      for (; k < list.length; k++) if (fits(list[k]!)) return list[k]!;
    }
    return undefined;
  };
  const next = new Map<string, number>();
  return jobs.map((words, i) => {
    const base = bases[i]!;
    const counts = shared.get(base);
    const word = counts && words.slice(1).find((w) => w !== base && counts.get(w) === 1);
    const wanted = word === undefined ? base : joined(base, word);
    const taken = own(i, wanted, base);
    if (taken !== undefined) {
      claimed.add(taken);
      return { slug: taken, existing: true };
    }
    let slug = wanted;
    let n = next.get(wanted) ?? 2;
    for (; used.has(slug); n++) slug = joined(wanted, String(n));
    next.set(wanted, n);
    used.add(slug);
    return { slug, existing: false };
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
  // Only spaces and tabs, as parseCrontab: a trailing NBSP or \v is part of the command.
  const line = rawLine.replace(/[ \t]+$/, '');
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

/** A service of the config, as far as discover compares it with a job. */
export interface ExistingService {
  slug: string;
  schedule?: string;
  timezone?: string;
}

export interface ProposeOptions {
  /** The services already in the config. */
  existing: ExistingService[];
  /** The machine's zone: cron runs every line in it (see zoneNote). */
  zone: string;
  now: number;
  install: Install;
  home: string;
  isExecutable: (path: string) => boolean;
  realpath: (path: string) => string;
  configFile: string | null;
}

/**
 * What to say about a CRON_TZ= or TZ= above a line. Debian's cron (vixie-cron 3.0pl1, package
 * `cron`) schedules every line in its own zone, the machine's, and only hands TZ to the job;
 * cronie also honours CRON_TZ. The service takes the machine's zone, as the cron Medic's schedules
 * follow (docs/jobs.md); null: the crontab sets neither.
 */
export function zoneNote(env: Record<string, string>, zone: string): string | null {
  const cronTz = env.CRON_TZ;
  if (cronTz !== undefined && cronTz !== '') {
    let named: string | null = null;
    try {
      checkTimeZone(cronTz.replace(/^:/, ''));
      named = new Intl.DateTimeFormat('en-US', { timeZone: cronTz.replace(/^:/, '') }).resolvedOptions().timeZone;
    } catch {
      // not a zone: nothing to suggest for cronie
    }
    const said = `the crontab sets CRON_TZ=${JSON.stringify(cronTz)} above this line; Debian's cron ignores it and runs the line in the machine's zone (${zone}), so the service uses that zone`;
    return named === null || named === zone ? said : `${said}; if this machine's cron is cronie (it honours CRON_TZ), set the service's "timezone" to "${named}" instead`;
  }
  const tz = env.TZ;
  if (tz !== undefined && tz !== '') return `the crontab sets TZ=${JSON.stringify(tz)} above this line; cron gives it to the job, but runs the line in the machine's zone (${zone}), so the service uses that zone`;
  return null;
}

/** A schedule as discover compares it: single spaces, a macro in lower case. */
function sameSchedule(a: string, b: string): boolean {
  const norm = (s: string) => {
    const t = s.trim().replace(/\s+/g, ' ');
    return t.startsWith('@') ? t.toLowerCase() : t;
  };
  return norm(a) === norm(b);
}

/** Every job of these crontabs with a proposed service, or why it is left alone. */
export function proposeJobs(crontabs: CrontabText[], opts: ProposeOptions): { proposals: Proposal[]; skipped: Skipped[] } {
  const skipped: Skipped[] = [];
  const found: { tab: CrontabText; raw: string; job: CronJob; schedule: string; grace: number }[] = [];
  // 30,000 copies of one line must not cost 30,000 walks over a year of runs.
  const graces = new Map<string, number>();
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
      let grace = graces.get(schedule);
      if (grace === undefined) {
        let cron: Cron;
        try {
          cron = parseCron(schedule);
        } catch (err) {
          skip(`its schedule "${schedule}" is not one Medic reads (${(err as Error).message})`);
          continue;
        }
        grace = graceFor(cron, opts.zone, opts.now);
        graces.set(schedule, grace);
      }
      found.push({ tab, raw: lines[job.lineNo - 1]!, job, schedule, grace });
    }
  }
  const existing = new Map(opts.existing.map((s) => [s.slug, s]));
  const slugs = proposeSlugs(
    found.map((f) => jobWords(f.job.command)),
    existing.keys(),
    (slug, i) => {
      const service = existing.get(slug)!;
      return service.schedule !== undefined && sameSchedule(service.schedule, found[i]!.schedule) && (service.timezone ?? opts.zone) === opts.zone;
    },
  );
  const programs = new Map<string, string>();
  const proposals = found.map((f, i): Proposal => {
    const path = f.job.env.PATH ?? CRON_DEFAULT_PATH;
    const home = f.job.env.HOME ?? opts.home;
    const key = `${path}\n${home}`;
    const medic = programs.get(key) ?? medicProgram(opts.install, path, home, opts.isExecutable, opts.realpath);
    programs.set(key, medic);
    const { slug, existing } = slugs[i]!;
    const note = zoneNote(f.job.env, opts.zone);
    return {
      source: f.tab.source,
      line: f.job.lineNo,
      ...(f.job.user !== undefined && { user: f.job.user }),
      command: f.job.command,
      service: { slug, schedule: f.schedule, timezone: opts.zone, grace: formatDuration(f.grace) },
      existing,
      rewritten: rewrittenLine(f.raw, f.job, medic, opts.configFile, slug),
      applies: !f.tab.system,
      ...(note !== null && { note }),
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

/** Past this many cells (lines removed × lines added), lineDiff shows the changed middle as removed, then added. */
export const MAX_DIFF_CELLS = 1_000_000;

/**
 * A short line diff of two texts: the lines that differ between the common start and the common
 * end, with up to two lines of context around them, `-`/`+`/` ` in front. The common start and end
 * are taken off first (discover appends services: the middle is small); a middle too big for a
 * longest common subsequence (MAX_DIFF_CELLS) is shown as all removed, then all added.
 */
export function lineDiff(before: string, after: string): string[] {
  const a = before === '' ? [] : before.replace(/\n$/, '').split('\n');
  const b = after === '' ? [] : after.replace(/\n$/, '').split('\n');
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let end = 0;
  while (end < a.length - start && end < b.length - start && a[a.length - 1 - end] === b[b.length - 1 - end]) end++;
  const ops: { kind: ' ' | '-' | '+'; text: string }[] = a.slice(0, start).map((text) => ({ kind: ' ', text }));
  const midA = a.slice(start, a.length - end);
  const midB = b.slice(start, b.length - end);
  const n = midA.length;
  const m = midB.length;
  if (n * m > MAX_DIFF_CELLS) {
    for (const text of midA) ops.push({ kind: '-', text });
    for (const text of midB) ops.push({ kind: '+', text });
  } else {
    // A longest common subsequence of the middle.
    const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i]![j] = midA[i] === midB[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && midA[i] === midB[j]) {
        ops.push({ kind: ' ', text: midA[i]! });
        i++;
        j++;
      } else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) ops.push({ kind: '-', text: midA[i++]! });
      else ops.push({ kind: '+', text: midB[j++]! });
    }
  }
  for (const text of a.slice(a.length - end)) ops.push({ kind: ' ', text });
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

/** The largest system crontab --system reads (cron's own files are a few KB). */
export const MAX_SYSTEM_CRONTAB_BYTES = 1_000_000;

/**
 * A system crontab's text: only a regular file, at most MAX_SYSTEM_CRONTAB_BYTES. Opened without
 * blocking (a FIFO would hang the read), then checked on the open descriptor (a link to /dev/zero
 * would never end), so nothing can be swapped in between. A link to a regular file is followed, as
 * cron follows it. Throws an Error saying why otherwise.
 */
export function readCronFile(file: string): string {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error('not a regular file (a pipe, a device or a socket): not read');
    const cap = MAX_SYSTEM_CRONTAB_BYTES;
    const tooBig = () => new Error(`bigger than ${cap} bytes: not read`);
    if (st.size > cap) throw tooBig();
    const buf = Buffer.alloc(cap + 1);
    let got = 0;
    for (let n = -1; n !== 0 && got < buf.length; got += n) n = readSync(fd, buf, got, buf.length - got, null);
    if (got > cap) throw tooBig();
    return buf.subarray(0, got).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** /etc/crontab and the files of /etc/cron.d that cron reads (a folder given as an argument, for tests). */
export function readSystemCrontabs(etc = '/etc', list: (dir: string) => string[] = (dir) => readdirSync(dir), read: (file: string) => string = readCronFile): SystemFile[] {
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

/** What `crontab -l` gave: the crontab's bytes as they are (see readUserCrontabBytes). */
export type CrontabBytes = { kind: 'bytes'; bytes: Buffer } | { kind: 'none'; message: string } | { kind: 'not-installed' } | { kind: 'error'; message: string };

export interface DiscoverDeps {
  readCrontab: () => Promise<CrontabBytes>;
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
  /** The user running medic and its primary group: who may write the folder the backup goes to. */
  uid: number;
  gid?: number;
  /** Asks a yes/no question on the terminal; null when there is none. */
  confirm: ((question: string) => Promise<boolean>) | null;
  /** Lines for the person at the terminal with --apply (the proposals, the diffs, what was done). */
  say: (text: string) => void;
}

/**
 * The crontab's text, and the lines (1-based) whose bytes are not UTF-8. Only valid UTF-8 turns back
 * into the same bytes: --apply refuses a crontab with such lines (the text shows them with U+FFFD).
 * A byte order mark stays part of the text.
 */
export function decodeCrontab(bytes: Uint8Array): { text: string; notUtf8: number[] } {
  const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
  try {
    strict.decode(bytes);
    return { text, notUtf8: [] };
  } catch {
    const notUtf8: number[] = [];
    let from = 0;
    for (let lineNo = 1; from <= bytes.length; lineNo++) {
      const nl = bytes.indexOf(0x0a, from);
      const to = nl < 0 ? bytes.length : nl;
      try {
        strict.decode(bytes.subarray(from, to));
      } catch {
        notUtf8.push(lineNo);
      }
      from = to + 1;
    }
    return { text, notUtf8 };
  }
}

/** The starter service `medic init` writes, as it writes it (nothing beats it: it pages a day after the first check). */
function starterService(): (service: unknown) => boolean {
  const starter = JSON.stringify((JSON.parse(starterConfig('')) as { services: unknown[] }).services[0]);
  return (service) => JSON.stringify(service) === starter;
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
  const userBytes = read.kind === 'bytes' ? read.bytes : Buffer.alloc(0);
  const { text: userText, notUtf8 } = decodeCrontab(userBytes);
  if (read.kind === 'none') notes.push(`this user has no crontab (${read.message})`);
  if (notUtf8.length > 0) {
    const lines = `crontab line${notUtf8.length === 1 ? '' : 's'} ${notUtf8.slice(0, 10).join(', ')}${notUtf8.length > 10 ? ', …' : ''}`;
    if (input.apply) {
      throw new MedicError(
        `${lines} ${notUtf8.length === 1 ? 'is' : 'are'} not UTF-8 text: medic discover --apply would change ${notUtf8.length === 1 ? 'its' : 'their'} bytes, so nothing was changed`,
        EXIT.data,
        'convert the crontab to UTF-8 (crontab -l | iconv -f latin1 -t utf-8 > new; check it; crontab new), or wrap the lines in medic run by hand',
      );
    }
    notes.push(`${lines} ${notUtf8.length === 1 ? 'is' : 'are'} not UTF-8 text (shown with �): --apply refuses this crontab until it is converted to UTF-8`);
  }

  let found: { file: string; raw: unknown } | null = null;
  try {
    found = await deps.findConfig();
  } catch (err) {
    if (input.apply) throw err;
    notes.push(`no config read (${(err as Error).message.split('\n')[0]}): slugs are not checked against existing services, and --apply needs one (medic init writes it)`);
  }
  const existing = servicesOf(found?.raw).flatMap((s): ExistingService[] => {
    if (s === null || typeof s !== 'object') return [];
    const { slug, schedule, timezone } = s as Record<string, unknown>;
    if (typeof slug !== 'string') return [];
    return [{ slug, ...(typeof schedule === 'string' && { schedule }), ...(typeof timezone === 'string' && { timezone }) }];
  });
  if (servicesOf(found?.raw).some(starterService())) {
    notes.push('the config still has the example service "nightly-backup" that medic init wrote: nothing beats it, so it pages about 24h30m after the first check; remove it from the config (or beat it from a job of yours)');
  }

  const crontabs: CrontabText[] = [{ source: 'crontab', text: userText, system: false }];
  if (input.system) {
    for (const f of deps.readSystem()) {
      if (f.text === null) notes.push(`cannot read ${f.file} (${f.error}): its jobs are not listed`);
      else crontabs.push({ source: f.file, text: f.text, system: true });
    }
  }
  const { proposals, skipped } = proposeJobs(crontabs, {
    existing,
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
  const services = mine.filter((p) => !p.existing).map((p) => p.service);
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
  // The backup is what `crontab <backup>` will install: another user who can write its folder
  // could swap it (even in a sticky /tmp: rename it away, plant hers under its name).
  const folder = realpathSync(dirname(file));
  const unsafe = folderTrustProblem(folder, deps.uid, writerGroup(deps.uid, deps.gid));
  if (unsafe !== null) {
    throw new ConfigError(
      `refusing --apply: the backup of the crontab would go beside the config, in ${unsafe.folder}, which is not safe (${unsafe.problem}): another user could swap the backup before it is put back; nothing was changed`,
      // A sticky folder is meant to be shared (/tmp): no chmod for it.
      `move the config into a folder only you (or root) can write and pass it with --config${statSync(unsafe.folder).mode & 0o1000 ? '' : `, or: chmod go-w ${unsafe.folder}`}`,
    );
  }
  const oldConfig = readFileSync(file, 'utf8');
  const indent = /^[{[]\n([ \t]+)/.exec(oldConfig)?.[1] ?? '  ';
  const newConfig = services.length === 0 ? oldConfig : `${JSON.stringify(newRaw, null, indent)}\n`;

  deps.say('The crontab (`crontab -l`) would change like this:');
  for (const line of crontabDiff(userText, mine)) deps.say(line);
  if (services.length > 0) {
    deps.say(`${file} would change like this:`);
    for (const line of lineDiff(oldConfig, newConfig)) deps.say(line);
  } else deps.say(`${file} stays as it is: its services already match these lines.`);
  const what = services.length === 0 ? 'install the new crontab' : `add ${services.length} service${services.length === 1 ? '' : 's'} to ${file} and install the new crontab`;
  if (!input.yes) {
    if (deps.confirm === null) {
      throw new UsageError('medic discover --apply asks before it changes anything, and there is no terminal to ask on: nothing was changed', 'run it on a terminal, or add --yes to apply without asking');
    }
    if (!(await deps.confirm(`Apply: ${what}? [y/N] `))) {
      deps.say('Nothing was changed.');
      report.applied = { crontab: false, config: false, backup: null };
      return report;
    }
  }
  // The crontab must still be the one the diff was made from, byte for byte.
  const again = await deps.readCrontab();
  const againBytes = again.kind === 'bytes' ? again.bytes : again.kind === 'none' ? Buffer.alloc(0) : null;
  if (againBytes === null || !againBytes.equals(userBytes)) {
    throw new MedicError("the crontab changed while medic discover was running: nothing was changed", EXIT.tempfail, 'run medic discover --apply again');
  }
  const backup = writeBackup(folder, userBytes, deps.now());
  if (services.length > 0) {
    try {
      replaceFile(file, newConfig);
    } catch (err) {
      rmSync(backup, { force: true });
      throw err;
    }
  }
  try {
    await deps.installCrontab(newCrontab);
  } catch (err) {
    try {
      if (services.length > 0) replaceFile(file, oldConfig);
    } catch (undo) {
      throw new ConfigError(
        `crontab - failed (${(err as Error).message}), and putting ${file} back failed too (${(undo as Error).message})`,
        `the old config is in your editor's hands now: remove the services ${services.map((s) => s.slug).join(', ')} from ${file}; the crontab is unchanged (its copy: ${backup})`,
      );
    }
    rmSync(backup, { force: true });
    throw err;
  }
  report.applied = { crontab: true, config: services.length > 0, backup };
  const added = services.length === 0 ? 'Installed the new crontab (its services were already in the config)' : `Added ${services.length} service${services.length === 1 ? '' : 's'} to ${file} and installed the new crontab`;
  deps.say(`${added}. The old crontab is in ${backup}: \`crontab ${backup}\` puts it back.`);
  return report;
}

function servicesOf(raw: unknown): unknown[] {
  const s = raw !== null && typeof raw === 'object' ? (raw as { services?: unknown }).services : undefined;
  return Array.isArray(s) ? s : [];
}

/** `crontab.<UTC time>.bak` beside the config, mode 600, never over an existing file or through a link. */
function writeBackup(dir: string, bytes: Buffer, now: number): string {
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
      writeFileSync(fd, bytes);
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

/**
 * Reads this user's crontab with `crontab -l` (found on env's PATH, given only what it needs), as
 * bytes: the backup must be the crontab byte for byte, whatever its encoding.
 */
export function readUserCrontabBytes(env: NodeJS.ProcessEnv): Promise<CrontabBytes> {
  const minimal: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME', 'USER', 'LOGNAME']) if (env[name] !== undefined) minimal[name] = env[name];
  return new Promise((done) => {
    execFile('crontab', ['-l'], { env: minimal, timeout: 10_000, encoding: 'buffer', maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return done({ kind: 'bytes', bytes: stdout });
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return done({ kind: 'not-installed' });
      const message = (stderr.toString('utf8').trim() || err.message).split('\n')[0]!;
      // Debian, cronie and busybox all say "no crontab for <user>".
      done(/no crontab/i.test(message) ? { kind: 'none', message } : { kind: 'error', message });
    });
  });
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
    if (p.existing) out.push(`  service ${s.slug} already in the config: the line is rewritten to beat it`);
    else out.push(`  service: ${s.slug}  schedule "${s.schedule}"  timezone ${s.timezone}  grace ${s.grace}`);
    if (p.note !== undefined) out.push(`  note: ${p.note}`);
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
