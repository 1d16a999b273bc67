import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { checkTimeZone, parseCron } from './core/cron.js';
import { parseDuration } from './core/duration.js';
import type { Window } from './core/mute.js';
import { type Priority, type ServiceSpec, type Severity, type SeverityMap } from './core/service.js';
import { schemaProblems } from './config-schema.js';
import { ConfigError } from './errors.js';

export const MODULE = 'medic';
export const SEARCH_PLACES = [
  'medic.config.json',
  'medic.config.yaml',
  'medic.config.yml',
  'medic.config.js',
  'medic.config.mjs',
  'medic.config.cjs',
  '.medicrc',
  '.medicrc.json',
  '.medicrc.yaml',
  '.medicrc.yml',
  'package.json',
];
export const DEFAULT_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';
export const DEFAULT_ROUTING_KEY_ENV = 'PAGERDUTY_ROUTING_KEY';
const MAX_CONFIG_BYTES = 64 * 1024 * 1024;

export interface Target {
  name: string;
  routingKeyEnv: string | null;
  /** Absolute path; relative paths in the file resolve against the config's folder. */
  routingKeyFile: string | null;
  eventsUrl: string;
  severity: SeverityMap | null;
  timeoutMs: number;
}

export interface Config {
  /** The file it came from, absolute. */
  file: string;
  databasePath: string;
  /** `spool`, absolute: beats arrive as files in this folder (src/spool.ts); null without one. */
  spool: string | null;
  services: ServiceSpec[];
  bySlug: Map<string, ServiceSpec>;
  targets: Map<string, Target>;
  retentionMs: number;
  /** `defaults.severity`: used after the service's own and the target's mapping. */
  defaultSeverity: SeverityMap | null;
  maintenance: Window[];
  /** The machine's zone (the one cron uses), for recurring windows without a "timezone". */
  localZone: string;
  checker: { heartbeatUrl: string | null; heartbeatMethod: 'GET' | 'POST'; gapThresholdMs: number; timeoutMs: number; deliveryBudgetMs: number };
  flap: { windowMs: number; maxTriggers: number };
}

export interface LoadOptions {
  /** From `--config`, else env MEDIC_CONFIG. */
  path?: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** Where the config search looks, in order (SPEC §2), for the "not found" message. */
export function searchDirs(cwd: string, env: NodeJS.ProcessEnv): string[] {
  const xdg = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  const home = env.HOME || homedir();
  const upTo = cwd === home || cwd.startsWith(`${home}/`) ? `up to ${home}` : 'up to /';
  return [`${cwd} and its parents ${upTo}`, join(xdg, MODULE), join('/etc', MODULE)];
}

/** Finds, reads and validates the config. Every problem is reported at once, as a ConfigError. */
export async function loadConfig(opts: LoadOptions): Promise<Config> {
  const found = await findConfig(opts);
  return buildConfig(found.raw, found.file, opts.env);
}

/** The config file and its parsed contents, not yet validated. */
export async function findConfig(opts: LoadOptions): Promise<{ file: string; raw: unknown }> {
  const explicit = opts.path ?? opts.env.MEDIC_CONFIG;
  if (!explicit) return search(opts);
  const file = resolve(opts.cwd, explicit);
  return { file, raw: await readExplicit(file) };
}

async function readExplicit(file: string): Promise<unknown> {
  let size: number;
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw new ConfigError(`config ${file} is a folder, not a file`, 'pass the path of the config file itself');
    size = st.size;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`config file ${file} not found`, 'check the --config path or MEDIC_CONFIG; `medic init` writes a starter config');
  }
  if (size > MAX_CONFIG_BYTES) throw new ConfigError(`config ${file} is ${size} bytes; the limit is ${MAX_CONFIG_BYTES}`);
  // JSON is read directly: it is the common case and keeps cosmiconfig off `medic beat`'s start-up.
  if (file.endsWith('.json') && !file.endsWith('package.json')) return parseJson(file, readFileSync(file));
  const { cosmiconfig } = await import('cosmiconfig');
  try {
    const result = await cosmiconfig(MODULE, { searchPlaces: SEARCH_PLACES }).load(file);
    return result?.config ?? null;
  } catch (err) {
    throw new ConfigError(`cannot read config ${file}: ${oneLine((err as Error).message)}`);
  }
}

async function search(opts: LoadOptions): Promise<{ file: string; raw: unknown }> {
  const { cosmiconfig } = await import('cosmiconfig');
  const [, xdgDir, etcDir] = searchDirs(opts.cwd, opts.env);
  // JSON through our parser (its errors say where); a file holding `null` is found, not skipped.
  const loaders = { '.json': (file: string, text: string) => parseJson(file, Buffer.from(text)) ?? NULL_CONFIG };
  // An empty file is found too: it is a mistake to report, not a reason to go on to a global config.
  const options = { searchPlaces: SEARCH_PLACES, loaders, ignoreEmptySearchPlaces: false };
  const attempts = [
    () => cosmiconfig(MODULE, { ...options, searchStrategy: 'global' }).search(opts.cwd),
    () => cosmiconfig(MODULE, { ...options, searchStrategy: 'none' }).search(xdgDir),
    () => cosmiconfig(MODULE, { ...options, searchStrategy: 'none' }).search(etcDir),
  ];
  for (const attempt of attempts) {
    let result;
    try {
      result = await attempt();
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      const e = err as Error & { filepath?: string };
      throw new ConfigError(`cannot read config${e.filepath ? ` ${e.filepath}` : ''}: ${oneLine(e.message)}`);
    }
    if (result?.isEmpty) throw new ConfigError(`config ${result.filepath} is empty`, '`medic init --force` writes a starter config there; or remove the file');
    if (result) return { file: result.filepath, raw: result.config === NULL_CONFIG ? null : result.config };
  }
  throw new ConfigError(
    `no Medic config found; looked in ${searchDirs(opts.cwd, opts.env).join(', ')} for ${SEARCH_PLACES.join(', ')}`,
    '`medic init` writes a starter medic.config.json; or pass --config <path> or set MEDIC_CONFIG',
  );
}

/** Stands for a JSON file holding `null`, which cosmiconfig would otherwise skip as "no config". */
const NULL_CONFIG = { medicNullConfig: true };

function oneLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ')
    .slice(0, 300);
}

function parseJson(file: string, bytes: Buffer): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigError(`config ${file} is not valid UTF-8 text`, 'save the file as UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config ${file} is not valid JSON: ${(err as Error).message}`, 'fix the syntax (a JSON linter or `node -e "JSON.parse(...)"` points at the spot)');
  }
}

type Raw = Record<string, any>;

/** Turns a parsed config object into a Config, or throws a ConfigError listing every problem. */
export function buildConfig(raw: unknown, file: string, env: NodeJS.ProcessEnv): Config {
  const fail = (problems: string[]): never => {
    throw new ConfigError(
      `invalid config ${file} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  ${file}: ${p}`).join('\n')}`,
      'fix the keys named above; medic.config.example.json shows every key',
    );
  };
  const shape = schemaProblems(raw);
  if (shape.length > 0) fail([...shape, ...crossProblems(raw)]);
  const cfg = raw as Raw;
  const dir = dirname(file);
  const problems: string[] = [];
  const inFolder = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  /** A duration the schema let through, in ms; a problem (and a harmless 1s) when it is absurdly long. */
  const dur = (value: unknown, at: string): number => {
    const ms = parseDuration(value);
    if (ms !== null) return ms;
    problems.push(`${at}: expected a duration of at most 100 years, got ${JSON.stringify(value)}`);
    return 1000;
  };

  const targets = new Map<string, Target>();
  const rawTargets: Raw = cfg.targets ?? { pagerduty: { type: 'pagerduty' } };
  for (const [name, t] of Object.entries(rawTargets) as [string, Raw][]) {
    if (typeof t.routingKeyEnv === 'string' && /^[a-z0-9]{32}$/i.test(t.routingKeyEnv) && /\d/.test(t.routingKeyEnv)) {
      // Never echo it: it is almost certainly the key itself, pasted where the variable's name goes.
      problems.push(`targets.${name}.routingKeyEnv: this looks like a routing key, not the name of an environment variable; put the key in a variable (e.g. PAGERDUTY_ROUTING_KEY) and name that variable here`);
    }
    const eventsUrl = t.eventsUrl ?? DEFAULT_EVENTS_URL;
    const urlProblem = checkUrl(eventsUrl);
    if (urlProblem) problems.push(`targets.${name}.eventsUrl: ${urlProblem}`);
    targets.set(name, {
      name,
      routingKeyEnv: t.routingKeyFile ? null : (t.routingKeyEnv ?? DEFAULT_ROUTING_KEY_ENV),
      routingKeyFile: t.routingKeyFile ? inFolder(t.routingKeyFile) : null,
      eventsUrl,
      severity: t.severity ?? null,
      timeoutMs: t.timeout !== undefined ? dur(t.timeout, `targets.${name}.timeout`) : 10_000,
    });
  }
  problems.push(...crossProblems(cfg));
  const defaults: Raw = cfg.defaults ?? {};
  const teams: Raw = cfg.teams ?? {};

  const services: ServiceSpec[] = [];
  const bySlug = new Map<string, ServiceSpec>();
  const firstIndex = new Map<string, number>();
  (cfg.services ?? []).forEach((s: Raw, i: number) => {
    const at = `services[${i}]`;
    if (firstIndex.has(s.slug)) return;
    firstIndex.set(s.slug, i);
    const intervalMs = dur(s.interval ?? defaults.interval ?? '5m', s.interval !== undefined ? `${at}.interval` : 'defaults.interval');
    if (intervalMs < 1000) problems.push(`${at}.interval: expected at least 1s, got ${JSON.stringify(s.interval ?? defaults.interval)}`);
    const team: string | null = s.team ?? null;
    const serviceTargets: string[] | undefined =
      s.targets ?? (team !== null ? teams[team]?.targets : undefined) ?? defaults.targets ?? (targets.size === 1 ? [...targets.keys()] : undefined);
    if (!serviceTargets || serviceTargets.length === 0) {
      problems.push(`${at}: "${s.slug}" would page nobody; give it "targets", give its team targets under "teams", or set "defaults.targets"`);
    }
    const spec: ServiceSpec = {
      slug: s.slug,
      name: s.name ?? s.slug,
      team,
      priority: String(s.priority ?? defaults.priority ?? 'P3').toUpperCase() as Priority,
      intervalMs,
      graceMs: dur(s.grace ?? defaults.grace ?? '1m', s.grace !== undefined ? `${at}.grace` : 'defaults.grace'),
      threshold: s.threshold ?? defaults.threshold ?? 1,
      runbook: s.runbook ?? null,
      severity: (s.severity as Severity | SeverityMap | undefined) ?? null,
      targets: serviceTargets ?? [],
    };
    services.push(spec);
    bySlug.set(spec.slug, spec);
  });

  const maintenance: Window[] = (cfg.maintenance ?? []).map((m: Raw, i: number) => {
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
    if (recurring) {
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
    m.services?.forEach((slug: string, k: number) => {
      if (!firstIndex.has(slug)) problems.push(`${at}.services[${k}]: unknown service "${slug}"`);
    });
    return {
      services: m.services ?? null,
      teams: m.teams ?? null,
      all: m.all === true,
      startAt,
      endAt,
      cron: m.cron ?? null,
      durationMs: m.duration !== undefined ? dur(m.duration, `${at}.duration`) : null,
      timezone: m.timezone ?? null,
      reason: m.reason ?? null,
    };
  });

  const heartbeatUrl: string | null = cfg.checker?.heartbeatUrl ?? null;
  if (heartbeatUrl) {
    const urlProblem = checkUrl(heartbeatUrl);
    if (urlProblem) problems.push(`checker.heartbeatUrl: ${urlProblem}`);
  }
  const config: Config = {
    file,
    databasePath: env.MEDIC_DB ? resolve(env.MEDIC_DB) : inFolder(cfg.database ?? 'medic.db'),
    spool: typeof cfg.spool === 'string' ? inFolder(cfg.spool) : null,
    services,
    bySlug,
    targets,
    retentionMs: dur(cfg.retention ?? '30d', 'retention'),
    defaultSeverity: defaults.severity ?? null,
    maintenance,
    localZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    checker: {
      heartbeatUrl,
      heartbeatMethod: cfg.checker?.heartbeatMethod ?? 'GET',
      gapThresholdMs: dur(cfg.checker?.gapThreshold ?? '10m', 'checker.gapThreshold'),
      timeoutMs: dur(cfg.checker?.timeout ?? '5s', 'checker.timeout'),
      deliveryBudgetMs: dur(cfg.checker?.deliveryBudget ?? '40s', 'checker.deliveryBudget'),
    },
    flap: { windowMs: dur(cfg.flap?.window ?? '1h', 'flap.window'), maxTriggers: cfg.flap?.maxTriggers ?? 3 },
  };
  if (problems.length > 0) fail(problems);
  return config;
}

/**
 * Problems between keys: duplicate slugs and names of targets that do not exist. Written
 * defensively, because it also runs on a config the schema rejected, so that one pass reports
 * everything (SPEC §2: all problems at once).
 */
function crossProblems(raw: unknown): string[] {
  const problems: string[] = [];
  const cfg = (raw && typeof raw === 'object' ? raw : {}) as Raw;
  const obj = (v: unknown): Raw => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Raw) : {});
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

/** https anywhere; plain http only to loopback (tests, local relays). */
export function checkUrl(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `expected an https:// URL, got ${JSON.stringify(value)}`;
  }
  if (url.protocol === 'https:') return null;
  if (url.protocol === 'http:' && isLoopback(url.hostname)) return null;
  if (url.protocol === 'http:') return `plain http:// is only allowed to loopback (127.0.0.1, localhost, [::1]); use https://, got ${JSON.stringify(value)}`;
  return `expected an https:// URL, got ${JSON.stringify(value)}`;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
