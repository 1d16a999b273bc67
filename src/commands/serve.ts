import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import type { Config, ServeSettings } from '../config.js';
import { ConfigError, isMedicError } from '../errors.js';
import { trustProblem } from '../file-trust.js';
import { GroupCommit } from '../serve/batch.js';
import { readPingKey } from '../serve/key.js';
import { startServer, type RunningServer, type ServeState } from '../serve/server.js';
import type { Store } from '../store/types.js';

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
  monotonic: () => number;
  now: () => number;
}

/** Errors while serving are said on stderr at most this often. */
export const ERROR_EVERY_MS = 10_000;

/** How long a stop waits for requests in flight (and their beats' commit) before it drops them. */
export const DRAIN_MS = 10_000;

/**
 * `medic serve`: takes beats over HTTP until SIGTERM or SIGINT, then stops accepting, lets the
 * requests in flight finish (each beat committed and answered), closes the store and returns 0.
 * SIGHUP reads the config again (services, ping key, keys to hide); a broken one is reported and
 * the running one kept.
 */
export async function serve(deps: ServeDeps): Promise<number> {
  let config = deps.config;
  let state = stateOf(config, deps);
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
    const message = (isMedicError(err) ? `${err.message}${err.hint ? `; ${err.hint}` : ''}` : err instanceof Error ? err.message : String(err)).replaceAll(state.pingKey, '…');
    const times = unsaid > 1 ? ` (${unsaid} times since the last such line)` : '';
    unsaid = 0;
    deps.warn(what === 'commit' ? `beats could not be recorded, answered 503${times}: ${message}` : `internal error answering a request${times} (a bug in Medic; please report it): ${message}`);
  };
  let server: RunningServer;
  try {
    server = await startServer({
      settings: config.serve,
      tls,
      commit,
      store,
      state: () => state,
      log: deps.verbose ? deps.say : null,
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
  deps.say(`medic serve: listening on ${server.url} (${config.services.length} service${config.services.length === 1 ? '' : 's'})`);

  let reloading = Promise.resolve();
  const reload = async () => {
    try {
      const next = await deps.reload();
      const nextState = stateOf(next, deps);
      const restart = restartNeeded(config.serve, next.serve);
      config = next;
      state = nextState;
      if (restart.length > 0) deps.warn(`${restart.join(', ')} changed in the config: restart medic serve to apply ${restart.length === 1 ? 'it' : 'them'}`);
      if (deps.verbose) deps.say(`medic serve: config reloaded (${next.services.length} services)`);
    } catch (err) {
      const why = isMedicError(err) ? `${err.message}${err.hint ? `\n${err.hint}` : ''}` : String(err);
      deps.warn(`the config was not reloaded, still serving with the previous one: ${why}`);
    }
  };
  let undo = () => {};
  await new Promise<void>((resolve) => {
    // Kept until the end: a second SIGTERM during the drain changes nothing, and SIGHUP never ends the process.
    undo = deps.onSignal({ stop: resolve, reload: () => void (reloading = reloading.then(reload)) });
  });
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
    deps.say(`medic serve: stopped; ${beats} beat${beats === 1 ? '' : 's'} in ${commits} commit${commits === 1 ? '' : 's'}${failed ? ` (${failed} failed)` : ''}`);
  }
  return 0;
}

function stateOf(config: Config, deps: Pick<ServeDeps, 'env' | 'uid' | 'gid' | 'keysToHide'>): ServeState {
  return {
    pingKey: readPingKey(config.serve, deps.env, deps.uid, deps.gid),
    slugs: new Set(config.bySlug.keys()),
    hide: deps.keysToHide(config),
  };
}

/** The PEM files of serve.tls; the private key only from a file the user or root owns and others cannot write (SPEC §8). */
function readTls(s: ServeSettings, uid: number, gid: number | undefined): { cert: Buffer; key: Buffer } | null {
  if (!s.tls) return null;
  const read = (path: string, what: 'cert' | 'key') => {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch (err) {
      throw new ConfigError(`cannot read serve.tls.${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'give the paths of PEM files the user running medic serve can read');
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new ConfigError(`serve.tls.${what} ${path} is not a regular file`, 'give the path of a PEM file');
      const distrust = what === 'key' ? trustProblem(st, uid, { ownGroup: gid }) : null;
      if (distrust) throw new ConfigError(`refusing serve.tls.key ${path}: ${distrust}`, `make it the user's own and private: chown ${uid} ${path} && chmod 600 ${path}`);
      return readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  };
  return { cert: read(s.tls.cert, 'cert'), key: read(s.tls.key, 'key') };
}

function listenError(s: ServeSettings, err: NodeJS.ErrnoException): Error {
  const at = `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`;
  const why: Record<string, [string, string]> = {
    EADDRINUSE: ['the address is already in use', 'stop what listens there (another medic serve?) or set serve.listen to another port'],
    EACCES: ['permission denied (ports below 1024 need privileges)', 'use a port from 1024 up behind a reverse proxy, or give node CAP_NET_BIND_SERVICE'],
    EADDRNOTAVAIL: ['no interface of this machine has that address', 'set serve.listen to an address of this machine, e.g. "0.0.0.0:8080" or "127.0.0.1:8080"'],
    ENOTFOUND: ['the host name does not resolve', 'set serve.listen to an IP address of this machine'],
  };
  const known = err.code ? why[err.code] : undefined;
  if (known) return new ConfigError(`medic serve cannot listen on ${at} (serve.listen): ${known[0]}`, known[1]);
  // A certificate and key that do not parse or do not match come here too (Node reads them on create).
  if (/PEM|key|certificate|ssl|tls/i.test(err.message)) {
    return new ConfigError(`medic serve cannot use serve.tls: ${err.message}`, 'give a PEM certificate and the PEM private key that belongs to it');
  }
  return new ConfigError(`medic serve cannot listen on ${at} (serve.listen): ${err.code ?? err.message}`, 'check serve.listen');
}

/** Settings fixed at start: the names of those a reload changed. */
function restartNeeded(before: ServeSettings, after: ServeSettings): string[] {
  const fixed: (keyof ServeSettings)[] = ['host', 'port', 'tls', 'bodyLimit', 'headersTimeoutMs', 'requestTimeoutMs', 'maxConnections'];
  const names: Partial<Record<keyof ServeSettings, string>> = { host: 'serve.listen', port: 'serve.listen', tls: 'serve.tls', headersTimeoutMs: 'serve.headersTimeout', requestTimeoutMs: 'serve.requestTimeout' };
  const changed = fixed.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k])).map((k) => names[k] ?? `serve.${k}`);
  return [...new Set(changed)];
}
