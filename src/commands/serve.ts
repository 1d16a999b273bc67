import type { Config, ServeSettings } from '../config.js';
import { ConfigError, hideSecrets, isMedicError } from '../errors.js';
import { GroupCommit } from '../serve/batch.js';
import { renderStatusPage, stripCells, stripStarts } from '../core/status-page.js';
import { checkPingKeyIsOwn, checkViewKeyIsOwn, readPingKey, readTls, readViewKey } from '../serve/key.js';
import { clearTextWarning, startServer, TlsSetupError, type RunningServer, type ServeState } from '../serve/server.js';
import type { Store } from '../store/types.js';
import { history } from './history.js';
import { metricsFamilies } from './metrics.js';
import { status } from './status.js';

export interface ServeDeps {
  config: Config;
  /** Reads and validates the config again (SIGHUP); throws a ConfigError when it is broken. */
  reload: () => Promise<Config>;
  openStore: (config: Config) => Promise<Store>;
  /** Routing keys to hide in what jobs send (the environment's and the config's key files'). */
  keysToHide: (config: Config) => string[];
  env: NodeJS.ProcessEnv;
  uid: number;
  gid?: number;
  /** Registers the process's signals: `stop` for SIGTERM and SIGINT, `reload` for SIGHUP. Returns the undo. */
  onSignal: (handlers: { stop: () => void; reload: () => void }) => () => void;
  /** Lines for stdout: the address at start, and with -v one per request and a summary at the end. */
  say: (line: string) => void;
  /** Lines for stderr (the caller says they are medic serve's): a reload that failed, a setting that needs a restart. */
  warn: (line: string) => void;
  verbose: boolean;
  /** Bytes said on stdout that its reader has not taken yet: -v lines are dropped while it is over LOG_BACKLOG_BYTES. */
  stdoutBacklog: () => number;
  monotonic: () => number;
  now: () => number;
  /** [ecosystem] Medic's version, for /metrics' medic_build_info. */
  version: string;
}

/** Errors while serving are said on stderr at most this often. */
export const ERROR_EVERY_MS = 10_000;

/**
 * The most -v may leave waiting on stdout. Past it (a pipe nobody reads: `medic serve -v | sleep`)
 * request lines are dropped, not queued in memory without end; the summary counts them.
 */
export const LOG_BACKLOG_BYTES = 1024 * 1024;

/** How long a stop waits for requests in flight (and their beats' commit) before it drops them. */
export const DRAIN_MS = 10_000;

/**
 * `medic serve`: takes beats over HTTP until SIGTERM or SIGINT, then stops accepting, lets the
 * requests in flight finish (each beat committed and answered), closes the store and returns 0.
 * SIGHUP reads the config again (services, ping key, keys to hide); a broken one is reported and
 * the running one kept. No line it prints holds a ping key it used, whatever put it there.
 */
export async function serve(deps: ServeDeps): Promise<number> {
  let config = deps.config;
  const pingKeys = new Set<string>();
  const scrub = (line: string) => hideSecrets(line, [...pingKeys], '…');
  const say = (line: string) => deps.say(scrub(line));
  const warn = (line: string) => deps.warn(scrub(line));
  let state = stateOf(config, deps, pingKeys);
  const tls = readTls(config.serve, deps.uid, deps.gid);
  const store = await deps.openStore(config);
  const commit = new GroupCommit(store);
  // At most one line per ERROR_EVERY_MS: a database that stays down must not flood the journal.
  let lastErrorAt = -Infinity;
  let unsaid = 0;
  const onError = (what: 'commit' | 'internal', err: unknown) => {
    unsaid++;
    if (deps.monotonic() - lastErrorAt < ERROR_EVERY_MS) return;
    lastErrorAt = deps.monotonic();
    const message = isMedicError(err) ? `${err.message}${err.hint ? `; ${err.hint}` : ''}` : err instanceof Error ? err.message : String(err);
    const times = unsaid > 1 ? ` (${unsaid} times since the last such line)` : '';
    unsaid = 0;
    warn(what === 'commit' ? `beats could not be recorded, answered 503${times}: ${message}` : `internal error answering a request${times} (a bug in Medic; please report it): ${message}`);
  };
  let dropped = 0;
  const log = (line: string) => {
    if (deps.stdoutBacklog() > LOG_BACKLOG_BYTES) dropped++;
    else say(line);
  };
  let server: RunningServer;
  try {
    server = await startServer({
      settings: config.serve,
      tls,
      commit,
      store,
      // The config as last (re)loaded, the store serve writes to: what `medic metrics` would print.
      metrics: () => metricsFamilies({ config, store, now: deps.now, version: deps.version }),
      statusPage: () => statusPage(config, store, deps.now(), [...state.hide, ...pingKeys]),
      state: () => state,
      log: deps.verbose ? log : null,
      onError,
      monotonic: deps.monotonic,
      now: deps.now,
    }).catch((err: NodeJS.ErrnoException) => {
      throw listenError(config.serve, err);
    });
  } catch (err) {
    await store.close();
    throw err;
  }
  let reloading = Promise.resolve();
  const reload = async () => {
    try {
      const next = await deps.reload();
      const nextState = stateOf(next, deps, pingKeys);
      const restart = restartNeeded(config, next);
      config = next;
      // Once the database changed, it stays stale until a restart (even if a later reload puts it back: simple, and said).
      const stale = state.stale ?? (restart.includes('database') ? STALE_BODY : null);
      state = { ...nextState, stale };
      if (restart.length > 0) {
        const meanwhile = stale ? ' (until then beats, /healthz, /status and /metrics answer 503)' : '';
        warn(`${restart.join(', ')} changed in the config: restart medic serve to apply ${restart.length === 1 ? 'it' : 'them'}${meanwhile}`);
      }
      if (deps.verbose) say(`medic serve: config reloaded (${next.services.length} services)`);
    } catch (err) {
      const why = isMedicError(err) ? `${err.message}${err.hint ? `\n${err.hint}` : ''}` : String(err);
      // A variable set after start never reaches this process: SIGHUP rereads files, not the environment.
      const restart = /environment variable \S+ \(serve\.\w+\) is not set/.test(why) ? '\n(medic serve reads its environment only at start: set the variable where it is started, then restart it)' : '';
      warn(`the config was not reloaded, still serving with the previous one: ${why}${restart}`);
    }
  };
  let stop = () => {};
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  // Before the line that says it listens: whoever waits for that line may signal at once (a SIGHUP
  // without a handler would end the process). Kept until the end: a second SIGTERM during the drain
  // changes nothing, and SIGHUP never ends the process.
  const undo = deps.onSignal({ stop: () => stop(), reload: () => void (reloading = reloading.then(reload)) });
  say(`medic serve: listening on ${server.url} (${config.services.length} service${config.services.length === 1 ? '' : 's'})`);
  const clear = clearTextWarning(config.serve);
  if (clear) warn(clear);
  await stopped;
  try {
    await reloading;
    await server.close(DRAIN_MS);
    await commit.idle();
  } finally {
    await store.close();
    undo();
  }
  if (deps.verbose) {
    const { commits, beats, failed } = commit.stats;
    const lost = dropped > 0 ? `; ${dropped} request line${dropped === 1 ? '' : 's'} not printed (stdout was not being read)` : '';
    say(`medic serve: stopped; ${beats} beat${beats === 1 ? '' : 's'} in ${commits} commit${commits === 1 ? '' : 's'}${failed ? ` (${failed} failed)` : ''}${lost}`);
  }
  return 0;
}

/** The state to answer from; `used` (every ping key so far) gains this one, so that none is ever kept or printed. */
function stateOf(config: Config, deps: Pick<ServeDeps, 'env' | 'uid' | 'gid' | 'keysToHide'>, used: Set<string>): ServeState {
  const pingKey = readPingKey(config.serve, deps.env, deps.uid, deps.gid);
  checkPingKeyIsOwn(pingKey, config, deps.env);
  const viewKey = readViewKey(config.serve, deps.env, pingKey);
  if (viewKey !== null) checkViewKeyIsOwn(viewKey, config, deps.env);
  used.add(pingKey);
  if (viewKey !== null) used.add(viewKey);
  return { pingKey, viewKey, slugs: new Set(config.bySlug.keys()), hide: deps.keysToHide(config), pingKeys: [...used] };
}

/** What /healthz, /status, /metrics and beats answer (503) after a reload changed the database. */
export const STALE_BODY = 'database changed in the config: restart medic serve (it keeps the database it opened at start)';

/** How often the status page refreshes itself. */
export const STATUS_REFRESH_S = 30;

/**
 * [ecosystem] The status page at `now`: every service's row as `medic status` computes it and its
 * beat strip from `medic history` over cells fixed in time (stripStarts: one per expected beat). Texts a job
 * or PagerDuty wrote have the keys in `hide` (routing keys, ping and view keys) hidden.
 */
export async function statusPage(config: Config, store: Store, now: number, hide: string[]): Promise<string> {
  const at = () => now;
  const report = await status({ slugs: [] }, { config, store, now: at });
  const hidden = (text: string | null) => (text === null ? null : hideSecrets(text, hide, '…'));
  const registered = new Map((await store.services()).map((r) => [r.slug, r.registeredAt]));
  const services = [];
  for (const row of report.rows) {
    const spec = config.bySlug.get(row.slug)!;
    const starts = stripStarts(spec, now);
    const h = await history({ slug: row.slug, cells: starts }, { config, store, now: at, keysToHide: hide });
    const shown = { ...row, name: hidden(row.name)!, deliveryProblem: hidden(row.deliveryProblem), failure: row.failure && { ...row.failure, message: hidden(row.failure.message) }, muted: row.muted && { ...row.muted, reason: hidden(row.muted.reason) } };
    services.push({ row: shown, cells: stripCells({ starts, strip: h.strip, events: h.events }, row, now, registered.get(row.slug) ?? null) });
  }
  return renderStatusPage({ now, zone: config.localZone, refreshSeconds: STATUS_REFRESH_S, services, lastCheckAt: report.lastCheckAt, lastCheckBy: report.lastCheckBy });
}

function listenError(s: ServeSettings, err: NodeJS.ErrnoException): Error {
  // A certificate and key that Node's TLS refused (readTls has parsed and matched them already).
  if (err instanceof TlsSetupError) {
    return new ConfigError(`medic serve cannot use serve.tls (${s.tls?.cert}, ${s.tls?.key}): ${err.message}`, 'give serve.tls.cert a PEM certificate and serve.tls.key the PEM private key that belongs to it');
  }
  const at = `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`;
  const why: Record<string, [string, string]> = {
    EADDRINUSE: ['the address is already in use', 'stop what listens there (another medic serve?) or set serve.listen to another port'],
    EACCES: ['permission denied (ports below 1024 need privileges)', 'use a port from 1024 up behind a reverse proxy, or give node CAP_NET_BIND_SERVICE'],
    EADDRNOTAVAIL: ['no interface of this machine has that address', 'set serve.listen to an address of this machine, e.g. "0.0.0.0:8080" or "127.0.0.1:8080"'],
    ENOTFOUND: ['the host name does not resolve', 'set serve.listen to an IP address of this machine'],
  };
  const known = err.code ? why[err.code] : undefined;
  if (known) return new ConfigError(`medic serve cannot listen on ${at} (serve.listen): ${known[0]}`, known[1]);
  return new ConfigError(`medic serve cannot listen on ${at} (serve.listen): ${err.code ?? err.message}`, 'check serve.listen');
}

/** Settings read only at start: the names of those a reload changed. */
function restartNeeded(before: Config, after: Config): string[] {
  const fixed: (keyof ServeSettings)[] = ['host', 'port', 'tls', 'bodyLimit', 'headersTimeoutMs', 'requestTimeoutMs', 'maxConnections'];
  const names: Partial<Record<keyof ServeSettings, string>> = { host: 'serve.listen', port: 'serve.listen', tls: 'serve.tls', headersTimeoutMs: 'serve.headersTimeout', requestTimeoutMs: 'serve.requestTimeout' };
  const changed = fixed.filter((k) => JSON.stringify(before.serve[k]) !== JSON.stringify(after.serve[k])).map((k) => names[k] ?? `serve.${k}`);
  // The store is opened once: beats would go on into the old database, silently.
  if (before.databasePath !== after.databasePath || before.databaseUrl !== after.databaseUrl) changed.unshift('database');
  if (before.passwordFile !== after.passwordFile) changed.push('passwordFile');
  return [...new Set(changed)];
}
