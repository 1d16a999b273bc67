import { dirname, isAbsolute, resolve } from 'node:path';
import { findConfig, type LoadOptions } from './config-file.js';
import { hideSlackSecrets, schemaProblems, SLACK_HOOK_IN_TEXT, SLACK_TOKEN_IN_TEXT } from './config-schema.js';
import { checkTimeZone, parseCron } from './core/cron.js';
import { parseDuration } from './core/duration.js';
import type { Window } from './core/mute.js';
import type { Priority, Schedule, ServiceSpec, Severity, SeverityMap } from './core/service.js';
import { OUTPUT_TAIL_DEFAULT_BYTES } from './core/signal.js';
import { nearest } from './core/suggest.js';
import { ConfigError, isMedicError, redactKey } from './errors.js';
import { databaseUrlProblem, isPostgresUrl } from './store/postgres-url.js';
import type { KeyRef } from './store/types.js';

export { findConfig, MODULE, SEARCH_PLACES, searchDirs, type FoundConfig, type LoadOptions } from './config-file.js';
export const DEFAULT_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';
export const DEFAULT_ROUTING_KEY_ENV = 'PAGERDUTY_ROUTING_KEY';

export const DEFAULT_SLACK_API_URL = 'https://slack.com/api';

export type TargetType = 'pagerduty' | 'slack' | 'webhook';

interface TargetCommon {
  name: string;
  /** [targets] The priorities this target takes; null: every priority. */
  priorities: Priority[] | null;
  severity: SeverityMap | null;
  timeoutMs: number;
}

export interface PagerDutyTarget extends TargetCommon {
  type: 'pagerduty';
  routingKeyEnv: string | null;
  /** Absolute path; relative paths in the file resolve against the config's folder. */
  routingKeyFile: string | null;
  eventsUrl: string;
}

/**
 * [targets] A Slack channel: an incoming webhook (its URL is the secret) or a bot token with a
 * channel (a resolve then edits the trigger's message and replies in its thread).
 */
export interface SlackTarget extends TargetCommon {
  type: 'slack';
  mode: 'webhook' | 'token';
  /** Where the webhook URL or the token is read at send time (`env:NAME`, `file:/abs/path`). */
  secret: KeyRef;
  /** Token mode: the channel posted to (id or name); null in webhook mode. */
  channel: string | null;
  /** Token mode: the Web API base, without a trailing slash (default https://slack.com/api). */
  apiUrl: string;
}

/** [targets] A signed JSON POST to a URL of the user's own. */
export interface WebhookTarget extends TargetCommon {
  type: 'webhook';
  url: string;
  /** Where the signing secret is read at send time. */
  secret: KeyRef;
}

export type Target = PagerDutyTarget | SlackTarget | WebhookTarget;

/** Whether `target` takes services of `priority` (its `priorities`, or every priority). */
export function takesPriority(target: Target, priority: Priority): boolean {
  return target.priorities === null || target.priorities.includes(priority);
}

export interface CheckerSettings {
  heartbeatUrl: string | null;
  heartbeatMethod: 'GET' | 'POST';
  gapThresholdMs: number;
  timeoutMs: number;
  deliveryBudgetMs: number;
}

/** [scale] `medic serve`: where it listens, where its ping key comes from, and its limits. */
export interface ServeSettings {
  /** Whether the config has a `serve` section (doctor checks serve's key files only then). */
  configured: boolean;
  host: string;
  port: number;
  /** Where the ping key is read at start (and on SIGHUP): one of the two is set. */
  pingKeyEnv: string | null;
  /** Absolute; relative paths in the file resolve against the config's folder. */
  pingKeyFile: string | null;
  /** [ecosystem] The variable holding the status page's view key (needed for /status off loopback); null: none. */
  viewKeyEnv: string | null;
  bodyLimit: number;
  /** Absolute paths of the PEM certificate and key; null: plain HTTP. */
  tls: { cert: string; key: string } | null;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxConnections: number;
}

export const DEFAULT_PING_KEY_ENV = 'MEDIC_PING_KEY';

export interface Config {
  /** The file it came from, absolute. */
  file: string;
  /** The SQLite file; with a PostgreSQL `databaseUrl`, that URL (for messages; nothing opens it as a file). */
  databasePath: string;
  /** [scale] "database" (or MEDIC_DB) when it is a `postgres://` URL, kept as written (never with a password); else null. */
  databaseUrl: string | null;
  /** [scale] `passwordFile`, absolute: the PostgreSQL password, read when the store is opened; null without one. */
  passwordFile: string | null;
  /** File mode of the database (and 0700 | group bits for its folder): 0o600, or 0o660 for a group set-up. */
  databaseMode: number;
  /** `spool`, absolute: beats arrive as files in this folder (src/spool.ts); null without one. */
  spool: string | null;
  services: ServiceSpec[];
  bySlug: Map<string, ServiceSpec>;
  targets: Map<string, Target>;
  retentionMs: number;
  /** `defaults.severity`: used after the service's own and the target's mapping. */
  defaultSeverity: SeverityMap | null;
  maintenance: Window[];
  /** The machine's zone (the one cron uses), for schedules and recurring windows without a "timezone"; UTC when the machine's is unusable. */
  localZone: string;
  /** Why localZone is UTC instead of the machine's zone (status and doctor print it); null when it is the machine's. */
  zoneNote: string | null;
  checker: CheckerSettings;
  flap: { windowMs: number; maxTriggers: number };
  serve: ServeSettings;
}

/** What buildConfig needs besides the parsed file: the environment (MEDIC_DB, TZ) and the working directory MEDIC_DB resolves against. */
export interface BuildOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** The machine's IANA zone as Intl reports it; tests pass one. Default: Intl's. */
  machineZone?: string | undefined;
}

/*
 * The parsed config as medic.schema.json describes it. buildConfig reads it only after the schema
 * has accepted the shape, so these types hold; their values may still be out of range.
 */
type RawDuration = string | number;
interface RawConfig {
  $schema?: string;
  $comment?: string | string[];
  database?: string;
  databaseMode?: '0600' | '0660';
  passwordFile?: string;
  spool?: string;
  retention?: RawDuration;
  defaults?: RawDefaults;
  targets?: Record<string, RawTarget>;
  teams?: Record<string, { targets?: string[] }>;
  services?: RawService[];
  maintenance?: RawWindow[];
  checker?: RawChecker;
  flap?: { window?: RawDuration; maxTriggers?: number };
  serve?: RawServe;
}
interface RawServe {
  listen?: string;
  pingKeyEnv?: string;
  pingKeyFile?: string;
  viewKeyEnv?: string;
  bodyLimit?: number;
  tls?: { cert: string; key: string };
  headersTimeout?: RawDuration;
  requestTimeout?: RawDuration;
  maxConnections?: number;
}
interface RawDefaults {
  interval?: RawDuration;
  schedule?: string;
  timezone?: string;
  maxRuntime?: RawDuration;
  outputTail?: number;
  grace?: RawDuration;
  threshold?: number;
  priority?: string;
  targets?: string[];
  severity?: SeverityMap;
}
interface RawTarget {
  type: TargetType;
  routingKeyEnv?: string;
  routingKeyFile?: string;
  eventsUrl?: string;
  webhookUrlEnv?: string;
  webhookUrlFile?: string;
  tokenEnv?: string;
  tokenFile?: string;
  channel?: string;
  apiUrl?: string;
  url?: string;
  secretEnv?: string;
  secretFile?: string;
  priorities?: string[];
  severity?: SeverityMap;
  timeout?: RawDuration;
}
interface RawService {
  slug: string;
  name?: string;
  team?: string;
  priority?: string;
  interval?: RawDuration;
  schedule?: string;
  timezone?: string;
  maxRuntime?: RawDuration;
  outputTail?: number;
  grace?: RawDuration;
  threshold?: number;
  runbook?: string;
  severity?: Severity | SeverityMap;
  targets?: string[];
}
interface RawWindow {
  services?: string[];
  teams?: string[];
  all?: boolean;
  start?: string;
  end?: string;
  cron?: string;
  duration?: RawDuration;
  timezone?: string;
  reason?: string;
}
interface RawChecker {
  heartbeatUrl?: string;
  heartbeatMethod?: 'GET' | 'POST';
  deliveryBudget?: RawDuration;
  gapThreshold?: RawDuration;
  timeout?: RawDuration;
}

const MINUTE_MS = 60_000;
/** Every timeout and the delivery budget: a check runs every minute and must end; Node's timers overflow at 24.8 days. */
const MAX_WAIT_MS = 10 * MINUTE_MS;
/** Shorter than twice the cron period, a checker gap can never be seen, so it would never page. */
const MIN_GAP_THRESHOLD_MS = 2 * MINUTE_MS;
const DATABASE_MODES = { '0600': 0o600, '0660': 0o660 } as const;

/** Finds, reads and validates the config. Every problem is reported at once, as a ConfigError. */
export async function loadConfig(opts: LoadOptions): Promise<Config> {
  const found = await findConfig(opts);
  return buildConfig(found.raw, found.file, opts);
}

/**
 * For `status` and `history`, which on-call must be able to run while someone's edit is broken:
 * the services and targets that are valid on their own, and the problems (null when there are
 * none). A file that cannot be found or parsed, or whose database cannot be told, still throws.
 */
export async function loadConfigLenient(opts: LoadOptions): Promise<{ config: Config; problems: ConfigError | null }> {
  const found = await findConfig(opts);
  return buildConfigLenient(found.raw, found.file, opts);
}

/** Turns a parsed config object into a Config, or throws a ConfigError listing every problem. */
export function buildConfig(raw: unknown, file: string, opts: BuildOptions): Config {
  const { config, problems } = collect(raw, file, opts);
  if (problems.length > 0 || !config) throw invalid(file, problems);
  return config;
}

/** buildConfig, keeping what is valid on its own (see loadConfigLenient). */
export function buildConfigLenient(raw: unknown, file: string, opts: BuildOptions): { config: Config; problems: ConfigError | null } {
  const first = collect(raw, file, opts);
  if (first.problems.length === 0 && first.config) return { config: first.config, problems: null };
  const error = invalid(file, first.problems);
  let current = raw;
  let problems = first.problems;
  // Each round drops what the last one found broken; dropping a target can leave a service paging nobody.
  for (let round = 0; round < 5; round++) {
    const next = withoutBroken(current, problems);
    if (next === null) throw error;
    const result = collect(next, file, opts);
    if (result.problems.length === 0 && result.config) return { config: result.config, problems: error };
    current = next;
    problems = result.problems;
  }
  throw error;
}

function invalid(file: string, problems: string[]): ConfigError {
  return new ConfigError(
    `invalid config ${file} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  ${file}: ${p}`).join('\n')}`,
    'fix the keys named above; medic.config.example.json shows every key',
  );
}

/** The Config (null when the shape is wrong) and every problem found, in file order by section. */
function collect(raw: unknown, file: string, opts: BuildOptions): { config: Config | null; problems: string[] } {
  let shape: string[];
  try {
    shape = schemaProblems(raw);
  } catch (err) {
    // A file nested a million levels deep overflows the validator's stack: still a config problem (78), not a bug.
    if (isMedicError(err)) throw err;
    throw new ConfigError(`config ${file} cannot be checked: ${(err as Error)?.message ?? String(err)} (is it nested too deeply?)`, 'fix the file; medic.config.example.json shows every key');
  }
  // One problem per key path: a secret pasted under a name the schema refuses ("routingKey",
  // "webhookUrl", "token") is reported as the schema words it; elsewhere, saying it looks like a
  // key beats "expected a URL".
  const keyShaped = keyShapedValues(raw);
  const at = (p: string) => p.slice(0, p.indexOf(': ') + 1);
  const keyPaths = new Set(keyShaped.map(at));
  const saidKey = new Set(shape.filter((p) => keyPaths.has(at(p)) && p.includes('must not be written in the config file')).map(at));
  const problems = [...shape.filter((p) => !keyPaths.has(at(p)) || saidKey.has(at(p))), ...keyShaped.filter((p) => !saidKey.has(at(p))), ...crossProblems(raw)];
  if (shape.length > 0) return { config: null, problems };
  const cfg = raw as RawConfig;
  const dir = dirname(file);
  const inFolder = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  const dur = durations(problems);

  const zone = machineZone('machineZone' in opts ? opts.machineZone : Intl.DateTimeFormat().resolvedOptions().timeZone, opts.env.TZ);
  const targets = buildTargets(cfg, inFolder, dur, problems);
  const services = buildServices(cfg, targets, dur, problems, zone.zone);
  const maintenance = buildWindows(cfg, services, dur, problems);
  const checker = buildChecker(cfg, dur, problems);
  const database = opts.env.MEDIC_DB || (cfg.database ?? 'medic.db');
  const databaseUrl = isPostgresUrl(database) ? database : null;
  const badUrl = databaseUrl === null ? null : databaseUrlProblem(databaseUrl);
  if (badUrl) problems.push(`${opts.env.MEDIC_DB ? 'MEDIC_DB' : 'database'}: ${badUrl}`);
  const config: Config = {
    file,
    databasePath: databaseUrl ?? (opts.env.MEDIC_DB ? resolve(opts.cwd, opts.env.MEDIC_DB) : inFolder(database)),
    databaseUrl,
    passwordFile: cfg.passwordFile !== undefined ? inFolder(cfg.passwordFile) : null,
    databaseMode: DATABASE_MODES[cfg.databaseMode ?? '0600'],
    spool: cfg.spool !== undefined ? inFolder(cfg.spool) : null,
    services,
    bySlug: new Map(services.map((s) => [s.slug, s])),
    targets,
    retentionMs: dur(cfg.retention ?? '30d', 'retention'),
    defaultSeverity: cfg.defaults?.severity ?? null,
    maintenance,
    localZone: zone.zone,
    zoneNote: zone.note,
    checker,
    flap: { windowMs: dur(cfg.flap?.window ?? '1h', 'flap.window'), maxTriggers: cfg.flap?.maxTriggers ?? 3 },
    serve: buildServe(cfg.serve, inFolder, dur, problems),
  };
  return { config, problems };
}

type Dur = (value: RawDuration, at: string, bounds?: { min?: number; max?: number; range?: string }) => number;

/** A duration the schema let through, in ms; a problem (and a harmless 1s) when it is out of range. */
function durations(problems: string[]): Dur {
  return (value, at, bounds = {}) => {
    const ms = parseDuration(value);
    if (ms === null) {
      problems.push(`${at}: expected a duration of at most 100 years, got ${JSON.stringify(value)}`);
      return 1000;
    }
    if ((bounds.min !== undefined && ms < bounds.min) || (bounds.max !== undefined && ms > bounds.max)) {
      problems.push(`${at}: expected ${bounds.range}, got ${JSON.stringify(value)}`);
      return Math.min(Math.max(ms, bounds.min ?? ms), bounds.max ?? ms);
    }
    return ms;
  };
}

const TIMEOUT_RANGE = { min: 1, max: MAX_WAIT_MS, range: 'a duration from 1ms to 10m' };

function buildTargets(cfg: RawConfig, inFolder: (p: string) => string, dur: Dur, problems: string[]): Map<string, Target> {
  const targets = new Map<string, Target>();
  for (const [name, t] of Object.entries(cfg.targets ?? { pagerduty: { type: 'pagerduty' } as RawTarget })) {
    const at = `targets.${name}`;
    const priorities = t.priorities?.map((p) => p.toUpperCase() as Priority) ?? null;
    // The schema sees "P1" and "p1" as two items; they are one priority.
    const twice = priorities?.findIndex((p, i) => priorities.indexOf(p) !== i) ?? -1;
    if (twice >= 0) {
      const first = priorities!.indexOf(priorities![twice]!);
      problems.push(`${at}.priorities: expected each priority once (case does not matter), got ${JSON.stringify(t.priorities![first])} and ${JSON.stringify(t.priorities![twice])}`);
    }
    const common = {
      name,
      priorities: priorities ? [...new Set(priorities)] : null,
      severity: t.severity ?? null,
      timeoutMs: t.timeout !== undefined ? dur(t.timeout, `${at}.timeout`, TIMEOUT_RANGE) : 10_000,
    };
    const urlAt = (key: string, url: string) => {
      const urlProblem = checkUrl(url);
      if (urlProblem) problems.push(`${at}.${key}: ${urlProblem}`);
    };
    /** The one secret source of `keys` the target names: `env:NAME` or `file:/abs`; a problem unless exactly one. */
    const secretOf = (keys: { env: string; file: string }[]): { ref: KeyRef; index: number } | null => {
      const named = keys.flatMap((k, index) => [
        ...(t[k.env as keyof RawTarget] !== undefined ? [{ ref: `env:${t[k.env as keyof RawTarget] as string}` as KeyRef, index, key: k.env }] : []),
        ...(t[k.file as keyof RawTarget] !== undefined ? [{ ref: `file:${inFolder(t[k.file as keyof RawTarget] as string)}` as KeyRef, index, key: k.file }] : []),
      ]);
      const all = keys.flatMap((k) => [k.env, k.file]).map((k) => `"${k}"`);
      const list = `${all.slice(0, -1).join(', ')} or ${all.at(-1)}`;
      if (named.length === 1) return named[0]!;
      problems.push(named.length === 0 ? `${at}: missing where its secret is read; give one of ${list}` : `${at}: give only one of ${list}, not ${named.map((n) => `"${n.key}"`).join(' and ')}`);
      return null;
    };
    if (t.type === 'slack') {
      const source = secretOf([
        { env: 'webhookUrlEnv', file: 'webhookUrlFile' },
        { env: 'tokenEnv', file: 'tokenFile' },
      ]);
      const mode = source?.index === 1 ? 'token' : 'webhook';
      if (source && mode === 'token' && t.channel === undefined) problems.push(`${at}: a bot token ("${t.tokenEnv !== undefined ? 'tokenEnv' : 'tokenFile'}") needs "channel": the channel to post to, like "C0123ABCD" or "#alerts"`);
      if (source && mode === 'webhook' && t.channel !== undefined) problems.push(`${at}.channel: an incoming webhook posts to the channel it was made for; "channel" goes with "tokenEnv" or "tokenFile"`);
      if (source && mode === 'webhook' && t.apiUrl !== undefined) problems.push(`${at}.apiUrl: only a bot token uses Slack's Web API; an incoming webhook's URL is its secret`);
      const apiUrl = (t.apiUrl ?? DEFAULT_SLACK_API_URL).replace(/\/+$/, '');
      urlAt('apiUrl', apiUrl);
      targets.set(name, { ...common, type: 'slack', mode, secret: source?.ref ?? 'env:', channel: mode === 'token' ? (t.channel ?? null) : null, apiUrl });
    } else if (t.type === 'webhook') {
      const source = secretOf([{ env: 'secretEnv', file: 'secretFile' }]);
      const url = t.url ?? '';
      urlAt('url', url);
      targets.set(name, { ...common, type: 'webhook', url, secret: source?.ref ?? 'env:' });
    } else {
      const eventsUrl = t.eventsUrl ?? DEFAULT_EVENTS_URL;
      urlAt('eventsUrl', eventsUrl);
      targets.set(name, {
        ...common,
        type: 'pagerduty',
        routingKeyEnv: t.routingKeyFile ? null : (t.routingKeyEnv ?? DEFAULT_ROUTING_KEY_ENV),
        routingKeyFile: t.routingKeyFile ? inFolder(t.routingKeyFile) : null,
        eventsUrl,
      });
    }
  }
  return targets;
}

function buildServices(cfg: RawConfig, targets: Map<string, Target>, dur: Dur, problems: string[], localZone: string): ServiceSpec[] {
  const defaults = cfg.defaults ?? {};
  const teams = cfg.teams ?? {};
  const services: ServiceSpec[] = [];
  const seen = new Set<string>();
  // Services with the same schedule text share one parsed Cron, so the runs state.ts remembers
  // per Cron serve them all (1,000 services on one schedule walk its runs once, not 1,000 times).
  const crons = new Map<string, Schedule['cron']>();
  const cronAt = (expr: string, at: string) => {
    let cron = crons.get(expr);
    if (!cron && (cron = parseCronAt(expr, at, problems))) crons.set(expr, cron);
    return cron;
  };
  // A schedule or a timezone in `defaults` is checked once, where it is written.
  const defaultCron = defaults.schedule !== undefined ? cronAt(defaults.schedule, 'defaults.schedule') : undefined;
  const defaultZone = defaults.timezone !== undefined ? zoneAt(defaults.timezone, 'defaults.timezone', problems) : undefined;
  const maxRuntime = (value: RawDuration | undefined, at: string) => (value === undefined ? null : dur(value, at, { min: 1000, range: 'at least 1s' }));
  const defaultMaxRuntimeMs = maxRuntime(defaults.maxRuntime, 'defaults.maxRuntime');
  let scheduled = 0;
  (cfg.services ?? []).forEach((s, i) => {
    const at = `services[${i}]`;
    if (seen.has(s.slug)) return; // crossProblems reports it
    seen.add(s.slug);
    // The service's own interval or schedule wins over either in `defaults`.
    const ownSchedule = s.schedule !== undefined;
    const useSchedule = ownSchedule || (s.interval === undefined && defaults.schedule !== undefined);
    let intervalMs: number | null = null;
    let schedule: Schedule | null = null;
    if (useSchedule) {
      scheduled++;
      const cron = ownSchedule ? cronAt(s.schedule!, `${at}.schedule`) : defaultCron;
      const zone = s.timezone !== undefined ? zoneAt(s.timezone, `${at}.timezone`, problems) : defaultZone;
      if (cron) schedule = { expr: (s.schedule ?? defaults.schedule!).trim(), cron, timezone: zone ?? localZone, ...(zone === undefined && { machineZone: true }) };
    } else {
      const intervalAt = s.interval !== undefined ? `${at}.interval` : 'defaults.interval';
      intervalMs = dur(s.interval ?? defaults.interval ?? '5m', intervalAt, { min: 1000, range: 'at least 1s' });
      if (s.timezone !== undefined) problems.push(`${at}.timezone: only a service with a "schedule" has a time zone; this one has an "interval"`);
    }
    const team = s.team ?? null;
    const serviceTargets =
      s.targets ?? (team !== null ? teams[team]?.targets : undefined) ?? defaults.targets ?? (targets.size === 1 ? [...targets.keys()] : undefined);
    const priority = (s.priority ?? defaults.priority ?? 'P3').toUpperCase() as Priority;
    // [targets] Only the targets that take its priority; a target unknown here is reported by crossProblems.
    const taking = (serviceTargets ?? []).filter((name) => { const t = targets.get(name); return t === undefined || takesPriority(t, priority); });
    if (!serviceTargets || serviceTargets.length === 0) {
      problems.push(`${at}: "${s.slug}" would page nobody; give it "targets", give its team targets under "teams", or set "defaults.targets"`);
    } else if (taking.length === 0) {
      const takes = serviceTargets.map((name) => `${name} takes ${targets.get(name)?.priorities?.join(', ') ?? 'every priority'}`).join('; ');
      const first = serviceTargets[0]!;
      problems.push(
        `${at}: "${s.slug}" would page nobody: its priority is ${priority}, and none of its targets takes ${priority} (${takes}); ` +
          `add "${priority}" to targets${/^[A-Za-z0-9_$-]+$/.test(first) ? `.${first}` : `[${JSON.stringify(first)}]`}.priorities, or give the service a target that takes ${priority} (a target without "priorities" takes every priority)`,
      );
    }
    services.push({
      slug: s.slug,
      name: s.name ?? s.slug,
      team,
      priority,
      intervalMs,
      // A schedule the config got wrong is reported; the spec still needs one of the two.
      schedule: schedule ?? (intervalMs === null ? { expr: '@daily', cron: parseCron('@daily'), timezone: localZone } : null),
      graceMs: dur(s.grace ?? defaults.grace ?? '1m', s.grace !== undefined ? `${at}.grace` : 'defaults.grace'),
      threshold: s.threshold ?? defaults.threshold ?? 1,
      runbook: s.runbook ?? null,
      severity: s.severity ?? null,
      targets: taking,
      maxRuntimeMs: s.maxRuntime !== undefined ? maxRuntime(s.maxRuntime, `${at}.maxRuntime`) : defaultMaxRuntimeMs,
      outputTailBytes: s.outputTail ?? defaults.outputTail ?? OUTPUT_TAIL_DEFAULT_BYTES,
    });
  });
  if (defaults.timezone !== undefined && defaults.schedule === undefined && scheduled === 0) {
    problems.push('defaults.timezone: only services with a "schedule" have a time zone, and none has one');
  }
  return services;
}

/** A service's schedule, parsed; a problem (and undefined) when cron would not read it. */
function parseCronAt(expr: string, at: string, problems: string[]): Schedule['cron'] | undefined {
  try {
    return parseCron(expr);
  } catch (err) {
    problems.push(`${at}: expected a 5-field cron expression like "30 2 * * *" or @daily, got ${JSON.stringify(expr)} (${(err as Error).message})`);
    return undefined;
  }
}

/** An IANA zone as the runtime names it (`europe/berlin` → `Europe/Berlin`); a problem (and undefined) when it is unknown. */
function zoneAt(zone: string, at: string, problems: string[]): string | undefined {
  try {
    checkTimeZone(zone);
    return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    problems.push(`${at}: expected an IANA time zone like "Europe/Berlin", got ${JSON.stringify(zone)}`);
    return undefined;
  }
}

function buildWindows(cfg: RawConfig, services: ServiceSpec[], dur: Dur, problems: string[]): Window[] {
  const slugs = services.map((s) => s.slug);
  const teams = [...new Set(services.flatMap((s) => (s.team === null ? [] : [s.team])))];
  return (cfg.maintenance ?? []).map((m, i): Window => {
    const at = `maintenance[${i}]`;
    const startAt = m.start !== undefined ? Date.parse(m.start) : null;
    const endAt = m.end !== undefined ? Date.parse(m.end) : null;
    if (Number.isNaN(startAt)) problems.push(`${at}.start: expected an ISO 8601 time like "2026-12-01T22:00:00Z", got ${JSON.stringify(m.start)}`);
    if (Number.isNaN(endAt)) problems.push(`${at}.end: expected an ISO 8601 time like "2026-12-02T02:00:00Z", got ${JSON.stringify(m.end)}`);
    const recurring = m.cron !== undefined;
    if (recurring && m.duration === undefined) problems.push(`${at}: a recurring window ("cron") needs a "duration"`);
    if (!recurring && (startAt === null || endAt === null)) problems.push(`${at}: a window needs "start" and "end" (or "cron" and "duration" to repeat)`);
    if (startAt !== null && endAt !== null && endAt <= startAt) problems.push(`${at}.end: must be after start`);
    if (!m.all && !m.services && !m.teams) problems.push(`${at}: say what it covers: "services", "teams" or "all": true`);
    if (m.cron !== undefined) {
      try {
        parseCron(m.cron);
      } catch (err) {
        problems.push(`${at}.cron: expected a 5-field cron expression like "0 2 * * 6", got ${JSON.stringify(m.cron)} (${(err as Error).message})`);
      }
    }
    if (m.timezone !== undefined) {
      try {
        checkTimeZone(m.timezone);
      } catch {
        problems.push(`${at}.timezone: expected an IANA time zone like "Europe/Berlin", got ${JSON.stringify(m.timezone)}`);
      }
    }
    m.services?.forEach((slug, k) => {
      if (!slugs.includes(slug)) problems.push(`${at}.services[${k}]: ${unknown('service', slug, slugs)}`);
    });
    m.teams?.forEach((team, k) => {
      if (!teams.includes(team)) problems.push(`${at}.teams[${k}]: ${unknown('team', team, teams)}; no service has "team": ${JSON.stringify(team)}`);
    });
    return {
      services: m.services ?? null,
      teams: m.teams ?? null,
      all: m.all === true,
      startAt,
      endAt,
      cron: m.cron ?? null,
      // A zero-length window closes the moment it opens and restarts the clock each time (issue 8).
      durationMs: m.duration !== undefined ? dur(m.duration, `${at}.duration`, { min: 1, range: 'a duration longer than 0s, like "2h"' }) : null,
      timezone: m.timezone ?? null,
      reason: m.reason ?? null,
    };
  });
}

/** `unknown service "nightly-bakup" (did you mean "nightly-backup"?)`, as for an unknown slug on the command line. */
function unknown(kind: string, name: string, known: string[]): string {
  const guess = nearest(name, known);
  return `unknown ${kind} ${JSON.stringify(name)}${guess ? ` (did you mean ${JSON.stringify(guess)}?)` : ''}`;
}

function buildChecker(cfg: RawConfig, dur: Dur, problems: string[]): CheckerSettings {
  const c = cfg.checker ?? {};
  const heartbeatUrl = c.heartbeatUrl ?? null;
  if (heartbeatUrl) {
    const urlProblem = checkUrl(heartbeatUrl);
    if (urlProblem) problems.push(`checker.heartbeatUrl: ${urlProblem}`);
  }
  return {
    heartbeatUrl,
    heartbeatMethod: c.heartbeatMethod ?? 'GET',
    gapThresholdMs: dur(c.gapThreshold ?? '10m', 'checker.gapThreshold', { min: MIN_GAP_THRESHOLD_MS, range: 'at least 2m (medic check runs every minute; a shorter gap cannot be told from a normal one)' }),
    timeoutMs: dur(c.timeout ?? '5s', 'checker.timeout', TIMEOUT_RANGE),
    deliveryBudgetMs: dur(c.deliveryBudget ?? '40s', 'checker.deliveryBudget', { min: 1, max: MAX_WAIT_MS, range: 'a duration from 1ms to 10m (keep it well under the minute between runs)' }),
  };
}

/** [scale] `serve`, with its defaults: 127.0.0.1:8080, MEDIC_PING_KEY, 10,000 bytes of body (as Healthchecks). */
function buildServe(raw: RawServe | undefined, inFolder: (p: string) => string, dur: Dur, problems: string[]): ServeSettings {
  const s = raw ?? {};
  const listen = s.listen ?? '127.0.0.1:8080';
  const colon = listen.lastIndexOf(':');
  const port = Number(listen.slice(colon + 1));
  if (port > 65535) problems.push(`serve.listen: expected a port from 0 to 65535, got ${JSON.stringify(listen)}`);
  const headersTimeoutMs = dur(s.headersTimeout ?? '10s', 'serve.headersTimeout', { min: 1000, max: MAX_WAIT_MS, range: 'a duration from 1s to 10m' });
  const requestTimeoutMs = dur(s.requestTimeout ?? '30s', 'serve.requestTimeout', { min: 1000, max: MAX_WAIT_MS, range: 'a duration from 1s to 10m' });
  if (requestTimeoutMs < headersTimeoutMs) problems.push(`serve.requestTimeout: expected at least serve.headersTimeout (the headers are part of the request), got ${JSON.stringify(s.requestTimeout ?? '30s')}`);
  return {
    configured: raw !== undefined,
    host: listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1'),
    port,
    pingKeyEnv: s.pingKeyFile ? null : (s.pingKeyEnv ?? DEFAULT_PING_KEY_ENV),
    pingKeyFile: s.pingKeyFile ? inFolder(s.pingKeyFile) : null,
    viewKeyEnv: s.viewKeyEnv ?? null,
    bodyLimit: s.bodyLimit ?? 10_000,
    tls: s.tls ? { cert: inFolder(s.tls.cert), key: inFolder(s.tls.key) } : null,
    headersTimeoutMs,
    requestTimeoutMs,
    maxConnections: s.maxConnections ?? 1000,
  };
}

/**
 * The zone schedules and recurring windows without "timezone" are read in: the machine's, as cron
 * uses it. An unset or unknown zone (TZ= empty, a typo in TZ) would make every such one an internal error,
 * so it falls back to UTC, with a note that status and doctor print.
 */
export function machineZone(detected: string | undefined, tzVariable: string | undefined): { zone: string; note: string | null } {
  if (detected !== undefined && detected !== 'Etc/Unknown' && namesAZone(tzVariable)) {
    try {
      checkTimeZone(detected);
      return { zone: detected, note: null };
    } catch {
      // falls through to UTC
    }
  }
  const named = tzVariable === undefined ? 'the machine does not name one' : tzVariable === '' ? 'TZ is set but empty' : `TZ=${JSON.stringify(tzVariable)} is not an IANA zone`;
  return {
    zone: 'UTC',
    note: `the machine's time zone is unusable (${named}): schedules and recurring maintenance windows without "timezone" are read in UTC; set TZ to a zone like "Europe/Berlin" (or unset it), or give each a "timezone"`,
  };
}

/**
 * Whether TZ (when set) is a zone name Intl reads as cron does: a POSIX rule such as
 * `EST5EDT,M3.2.0/2,M11.1.0` or `<+0530>-5:30` is one cron (libc) follows and Intl does not (it
 * reads it as UTC), so it must be said, not silently replaced.
 */
function namesAZone(tzVariable: string | undefined): boolean {
  if (tzVariable === undefined || tzVariable === '') return true;
  try {
    checkTimeZone(tzVariable.replace(/^:/, ''));
    return true;
  } catch {
    return false;
  }
}

/**
 * Problems between keys: duplicate slugs and names of targets that do not exist. Written
 * defensively, because it also runs on a config the schema rejected, so that one pass reports
 * everything (SPEC §2: all problems at once).
 */
/** A config the schema may have rejected, read defensively (every access is checked). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- untrusted shape, probed field by field
type Loose = Record<string, any>;

function crossProblems(raw: unknown): string[] {
  const problems: string[] = [];
  const obj = (v: unknown): Loose => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Loose) : {});
  const cfg = obj(raw);
  const targetNames = cfg.targets === undefined ? ['pagerduty'] : Object.keys(obj(cfg.targets));
  const knownTargets = (list: unknown, at: string) => {
    if (!Array.isArray(list)) return;
    list.forEach((name, i) => {
      if (typeof name === 'string' && !targetNames.includes(name)) {
        problems.push(`${at}[${i}]: unknown target "${name}"; defined targets: ${targetNames.join(', ') || '(none)'}`);
      }
    });
  };
  knownTargets(obj(cfg.defaults).targets, 'defaults.targets');
  for (const [team, t] of Object.entries(obj(cfg.teams))) knownTargets(obj(t).targets, `teams.${team}.targets`);
  const firstIndex = new Map<string, number>();
  (Array.isArray(cfg.services) ? cfg.services : []).forEach((s: unknown, i: number) => {
    const slug = obj(s).slug;
    if (typeof slug === 'string') {
      if (firstIndex.has(slug)) problems.push(`services[${i}].slug: "${slug}" is already used by services[${firstIndex.get(slug)}]; slugs must be unique`);
      else firstIndex.set(slug, i);
    }
    knownTargets(obj(s).targets, `services[${i}].targets`);
  });
  return problems;
}

/**
 * Values that look like a routing key (32 letters and digits, both kinds) where no key belongs:
 * the key pasted as a file name, a URL, a variable name, a reason... Refused and never echoed.
 * [targets] So is a Slack bot token or a Slack webhook URL anywhere in a value (pasted as
 * "channel", a webhook's "url", a variable name...).
 * Slugs, team and target names are identifiers that may have that shape, so they are left alone.
 */
function keyShapedValues(raw: unknown): string[] {
  const problems: string[] = [];
  const visit = (value: unknown, path: (string | number)[]) => {
    if (typeof value === 'string') {
      const found = isIdentifier(path) ? null : secretIn(value, path);
      if (found !== null) {
        // Its keys belong to a Slack target: in a webhook target's "url", say so (a webhook target has no such keys).
        const slackSecretInWebhook = found.file !== 'routingKeyFile' && path[0] === 'targets' && path[2] === 'url';
        problems.push(
          `${pathText(path)}: this looks like ${found.noun} (${found.shown}), which must not be written in the config file; put it in a file named by "${found.file}" or a variable named by "${found.env}"` +
            (slackSecretInWebhook ? ` of a target with "type": "slack" (Slack's own webhooks take Slack's message format, not Medic's signed events)` : ''),
        );
      }
    } else if (Array.isArray(value)) value.forEach((v, i) => visit(v, [...path, i]));
    else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) visit(v, [...path, k]);
  };
  try {
    visit(raw, []);
  } catch {
    // Nested too deeply to walk: the schema check reports that file.
  }
  return problems;
}

const KEY_TOKEN = /(?<![A-Za-z0-9])[A-Za-z0-9]{32}(?![A-Za-z0-9])/g;

function isKeyLike(token: string): boolean {
  return /^[A-Za-z0-9]{32}$/.test(token) && /\d/.test(token) && /[A-Za-z]/.test(token);
}

/** The key when the whole value is key-shaped; in an events URL (PagerDuty's, which never holds the key), any key-shaped token. */
function keyIn(value: string, path: (string | number)[]): string | null {
  if (isKeyLike(value.trim())) return value.trim();
  if (path.at(-1) !== 'eventsUrl') return null;
  return [...value.matchAll(KEY_TOKEN)].find((m) => isKeyLike(m[0]))?.[0] ?? null;
}

/**
 * A secret in a value, shown only as much as says what it is: a routing key (`a1b2…o5p6`), or
 * [targets] anywhere in the value, a Slack token (`xoxb-…`) or a Slack webhook URL
 * (`hooks.slack.com/services/…`), both distinctive enough to be found inside any text.
 */
function secretIn(value: string, path: (string | number)[]): { noun: string; shown: string; env: string; file: string } | null {
  const token = new RegExp(SLACK_TOKEN_IN_TEXT.source).exec(value)?.[0];
  if (token) return { noun: 'a Slack bot token', shown: hideSlackSecrets(token), env: 'tokenEnv', file: 'tokenFile' };
  const hook = new RegExp(SLACK_HOOK_IN_TEXT.source, 'i').exec(value)?.[0];
  if (hook) return { noun: 'a Slack webhook URL', shown: hideSlackSecrets(hook), env: 'webhookUrlEnv', file: 'webhookUrlFile' };
  const key = keyIn(value, path);
  return key === null ? null : { noun: 'a routing key', shown: redactKey(key), env: 'routingKeyEnv', file: 'routingKeyFile' };
}

/** services[].slug, services[].team, and lists of slugs, teams and targets. */
function isIdentifier(path: (string | number)[]): boolean {
  const [section, , key, , ] = path;
  if (section === 'services') return key === 'slug' || key === 'team' || key === 'targets';
  if (section === 'maintenance') return key === 'services' || key === 'teams';
  return path.includes('targets') && typeof path.at(-1) === 'number';
}

function pathText(path: (string | number)[]): string {
  if (path.length === 0) return '(root)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : /^[A-Za-z0-9_$-]+$/.test(p) ? (i === 0 ? p : `.${p}`) : `[${JSON.stringify(p)}]`)).join('');
}

/**
 * `raw` without the parts the problems name, for the lenient load: a broken service, target or
 * window is dropped; a broken default drops the services that inherit it; a broken checker or flap
 * setting falls back to its default. Null when a problem leaves nothing sound to show (the
 * database's location, or a problem it cannot place).
 */
function withoutBroken(raw: unknown, problems: string[]): RawConfig | null {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return null;
  let cfg: Loose;
  try {
    cfg = structuredClone(raw) as Loose;
  } catch {
    return null; // a JavaScript config holding functions or the like: nothing to salvage
  }
  const dropServices = new Set<number>();
  const dropTargets = new Set<string>();
  const dropWindows = new Set<number>();
  const services: Loose[] = Array.isArray(cfg.services) ? cfg.services : [];
  const obj = (v: unknown): Loose => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Loose) : {});
  for (const problem of problems) {
    let m: RegExpExecArray | null;
    if ((m = /^services\[(\d+)\]/.exec(problem))) dropServices.add(Number(m[1]));
    else if ((m = /^targets(?:\.([A-Za-z0-9_$-]+)|\[("(?:[^"\\]|\\.)*")\])/.exec(problem))) dropTargets.add(m[1] ?? (JSON.parse(m[2]!) as string));
    else if ((m = /^maintenance\[(\d+)\]/.exec(problem))) dropWindows.add(Number(m[1]));
    else if (/^defaults: expected "interval" or "schedule", not both$/.test(problem)) {
      // Neither default can be trusted: the services that inherit one go.
      services.forEach((s, i) => {
        if (obj(s).interval === undefined && obj(s).schedule === undefined) dropServices.add(i);
      });
      delete obj(cfg.defaults).interval;
      delete obj(cfg.defaults).schedule;
    } else if ((m = /^defaults\.([A-Za-z]+)/.exec(problem))) {
      const key = m[1]!;
      services.forEach((s, i) => {
        if (obj(s)[key] === undefined) dropServices.add(i);
      });
      delete obj(cfg.defaults)[key];
    } else if ((m = /^teams(?:\.([A-Za-z0-9_$-]+)|\[("(?:[^"\\]|\\.)*")\])/.exec(problem))) {
      const team = m[1] ?? (JSON.parse(m[2]!) as string);
      services.forEach((s, i) => {
        if (obj(s).team === team && obj(s).targets === undefined) dropServices.add(i);
      });
      delete obj(cfg.teams)[team];
    } else if ((m = /^(checker|flap|serve)\.([A-Za-z]+)/.exec(problem))) delete obj(cfg[m[1]!])[m[2]!];
    else if ((m = /^(checker|flap|serve|retention|\$comment|\$schema)(?=[:.[])/.exec(problem))) delete cfg[m[1]!];
    else if ((m = /^\(root\): unknown key "([^"]+)"/.exec(problem))) delete cfg[m[1]!];
    else return null;
  }
  if (dropServices.size > 0) cfg.services = services.filter((_, i) => !dropServices.has(i));
  if (Array.isArray(cfg.maintenance) && (dropWindows.size > 0 || dropServices.size > 0)) {
    const kept = new Set(cfg.services.map((s: unknown) => obj(s).slug));
    cfg.maintenance = cfg.maintenance
      .filter((_: unknown, i: number) => !dropWindows.has(i))
      // A window naming a dropped service would now name an unknown one.
      .map((w: unknown) => (Array.isArray(obj(w).services) ? { ...obj(w), services: obj(w).services.filter((s: unknown) => kept.has(s)) } : w));
  }
  for (const name of dropTargets) delete obj(cfg.targets)[name];
  return cfg as RawConfig;
}

/** https anywhere; plain http only to loopback (tests, local relays); never a user or password in it. */
export function checkUrl(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `expected an https:// URL, got ${showUrl(value)}`;
  }
  // Never printed: the password is a secret, and the whole URL with it.
  if (url.username || url.password) return 'credentials in a URL (user:password@) are refused; Medic does not send them';
  if (url.protocol === 'https:') return null;
  if (url.protocol === 'http:' && isLoopback(url.hostname)) return null;
  if (url.protocol === 'http:') return `plain http:// is only allowed to loopback (127.0.0.1, localhost, [::1]); use https://, got ${showUrl(value)}`;
  return `expected an https:// URL, got ${showUrl(value)}`;
}

/** A URL as written, cut short, with anything key-shaped (a routing key, a Slack token or webhook path) hidden. */
function showUrl(value: string): string {
  const text = JSON.stringify(hideSlackSecrets(value.replace(KEY_TOKEN, (t) => (isKeyLike(t) ? redactKey(t) : t))));
  return text.length > 100 ? `${text.slice(0, 97)}..."` : text;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
