import { createHash, createPrivateKey, timingSafeEqual, X509Certificate } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { dirname } from 'node:path';
import type { Config, ServeSettings } from '../config.js';
import { checkLinks } from '../config-file.js';
import { ConfigError, looksLikeRoutingKey } from '../errors.js';
import { trustProblem } from '../file-trust.js';
import { describeKeyRef, keyRefOf, readKey } from '../notify/keys.js';

/** A ping key: 16 to 256 of A-Z a-z 0-9 _ - (Healthchecks' are 22 of them); at most 256. */
const PING_KEY = /^[A-Za-z0-9_-]{16,256}$/;
const MAKE_ONE = "make one with `openssl rand -base64 24 | tr '+/' '-_'`";

/** Where the ping key is read from, in words for messages. */
export function pingKeySource(s: Pick<ServeSettings, 'pingKeyEnv' | 'pingKeyFile'>): string {
  return s.pingKeyFile ? `the ping key file ${s.pingKeyFile} (serve.pingKeyFile)` : `the environment variable ${s.pingKeyEnv} (serve.pingKeyEnv)`;
}

/**
 * The ping key from `serve.pingKeyEnv` or `serve.pingKeyFile`, checked. A missing, short or
 * malformed key is a ConfigError (78) that names where it was looked for and what is wrong, never
 * the key. A key file is read as a secret (readSecretFile).
 */
export function readPingKey(s: Pick<ServeSettings, 'pingKeyEnv' | 'pingKeyFile'>, env: NodeJS.ProcessEnv, uid: number, gid?: number): string {
  const where = pingKeySource(s);
  const setIt = s.pingKeyFile
    ? `write a ping key of 16 to 256 of A-Z a-z 0-9 _ - into ${s.pingKeyFile} (mode 600, owned by the user that runs medic serve); ${MAKE_ONE}`
    : `set ${s.pingKeyEnv} to a ping key of 16 to 256 of A-Z a-z 0-9 _ - (or name a file in serve.pingKeyFile); ${MAKE_ONE}`;
  const fromFile = () => readSecretFile(s.pingKeyFile!, { setting: 'serve.pingKeyFile', where, what: 'a ping key', hint: setIt, maxBytes: 1024 }, uid, gid).toString('utf8');
  const key = (s.pingKeyFile ? fromFile() : (env[s.pingKeyEnv!] ?? null))?.trim() ?? null;
  if (key === null) throw new ConfigError(`medic serve needs a ping key: ${where} is not set`, setIt);
  if (key === '') throw new ConfigError(`medic serve needs a ping key: ${where} is empty`, setIt);
  if (key.length < 16) throw new ConfigError(`the ping key in ${where} is too short (${key.length} characters): it must be 16 to 256 of A-Z a-z 0-9 _ -`, setIt);
  if (!PING_KEY.test(key)) throw new ConfigError(`the ping key in ${where} ${shapeProblem(key)}`, setIt);
  return key;
}

/**
 * Refuses a ping key that is also a routing key this process can see (a target's, from its variable
 * or file, or another variable holding a routing key): the ping key travels in URLs, shell history
 * and the access logs of proxies, where a routing key must never be.
 */
export function checkPingKeyIsOwn(pingKey: string, config: Pick<Config, 'serve' | 'targets'>, env: NodeJS.ProcessEnv): void {
  const whose = routingKeyHolder(pingKey, config, env);
  if (whose === null) return;
  throw new ConfigError(
    `the ping key in ${pingKeySource(config.serve)} is ${whose}: the ping key travels in URLs and in the logs of proxies, where a routing key must never be`,
    `give medic serve a ping key of its own; ${MAKE_ONE}`,
  );
}

/**
 * [ecosystem] Refuses a view key that is also a routing key this process can see: the view key is
 * typed into browsers and kiosk scripts, kept in Prometheus configs and sent in Basic auth.
 */
export function checkViewKeyIsOwn(viewKey: string, config: Pick<Config, 'serve' | 'targets'>, env: NodeJS.ProcessEnv): void {
  const whose = routingKeyHolder(viewKey, config, env);
  if (whose === null) return;
  throw new ConfigError(
    `the view key in ${viewKeySource(config.serve)} is ${whose}: the view key is typed into browsers and kept in scrapers' configs, where a routing key must never be`,
    `give the status page a view key of its own; ${MAKE_ONE}`,
  );
}

/** Whose routing key `key` is (a target's, or another variable's shaped like one), in words; null when none. */
function routingKeyHolder(key: string, config: Pick<Config, 'targets' | 'serve'>, env: NodeJS.ProcessEnv): string | null {
  for (const target of config.targets.values()) {
    const read = readKey(keyRefOf(target), env);
    if ('key' in read && read.key === key) return `the routing key of target "${target.name}" (${describeKeyRef(keyRefOf(target))})`;
  }
  // serve's own variables are not "other": a view key equal to the ping key has its own message (readViewKey).
  const own = [config.serve.pingKeyEnv, config.serve.viewKeyEnv];
  const other = Object.entries(env).find(([name, value]) => !own.includes(name) && value?.trim() === key && looksLikeRoutingKey(key));
  return other ? `also in the environment variable ${other[0]}, shaped like a PagerDuty routing key` : null;
}

/** What a secret file is, for readSecretFile's messages. */
export interface SecretFile {
  /** The setting that names it: `serve.pingKeyFile`. */
  setting: string;
  /** `the ping key file /etc/medic/ping (serve.pingKeyFile)` */
  where: string;
  /** What it holds: `a ping key`. */
  what: string;
  /** How to put a good one there. */
  hint: string;
  maxBytes: number;
}

/**
 * A secret file's bytes (the ping key file, the TLS private key), checked and read through one
 * descriptor (SPEC §8): every link on the way is the user's or root's (checkLinks, as for the
 * config); the file is opened without blocking (a FIFO planted there cannot hang the start); it is a
 * regular file that the user or root owns, that no other user can write or read (group read only
 * for the user's own primary group, a user private group), in a folder no other user can write
 * (they could put another file in its place); and the path still leads to the file that was opened.
 * Each refusal is a ConfigError (78) naming the file and what to change, never its contents.
 */
export function readSecretFile(file: string, f: SecretFile, uid: number, gid: number | undefined): Buffer {
  checkLinks(file, uid, `${f.setting} ${file}`);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw new ConfigError(`cannot read ${f.where}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, f.hint);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ConfigError(`${f.where} is not a regular file`, f.hint);
    const unsafe = (problem: string, fix: string) => new ConfigError(`${f.where} is not safe to read ${f.what} from: ${problem}`, fix);
    const problem = trustProblem(st, uid, { ownGroup: gid }) ?? readableProblem(st, gid);
    if (problem) throw unsafe(problem, `make it the user's own and private: chown ${uid} ${file} && chmod 600 ${file}`);
    const changed = () => new ConfigError(`${f.where} changed while medic was reading it`, 'run the command again; if this repeats, someone is changing the file or a link to it');
    let folder: string;
    let folderStat: Stats;
    try {
      folder = dirname(realpathSync(file));
      folderStat = statSync(folder);
    } catch {
      throw changed();
    }
    const folderProblem = trustProblem(folderStat, uid, { ownGroup: gid });
    if (folderProblem) {
      throw unsafe(`its folder ${folder} is not safe (${folderProblem}), so someone else could put another file in its place`, `move it into a folder only you (or root) can write, or: chmod go-w ${folder}`);
    }
    const now = checkLinks(file, uid, `${f.setting} ${file}`);
    if (now === null || now.dev !== st.dev || now.ino !== st.ino) throw changed();
    const buf = Buffer.alloc(f.maxBytes + 1);
    let n = 0;
    while (n < buf.length) {
      const read = readSync(fd, buf, n, buf.length - n, null);
      if (read === 0) break;
      n += read;
    }
    if (n > f.maxBytes) throw new ConfigError(`${f.where} is larger than ${f.maxBytes} bytes: not ${f.what}`, f.hint);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Who besides the user can read a secret file, or null: group read is fine only for the user's own primary group. */
function readableProblem(st: Pick<Stats, 'mode' | 'gid'>, gid: number | undefined): string | null {
  const mode = (st.mode & 0o777).toString(8).padStart(3, '0');
  if (st.mode & 0o004) return `every user on this machine can read it (mode ${mode})`;
  if (st.mode & 0o040 && st.gid !== gid) return `its group can read it (mode ${mode})`;
  return null;
}

/** The biggest TLS private key file read: an RSA 16384-bit PEM key is under 13 KB. */
const MAX_TLS_KEY_BYTES = 64 * 1024;

/**
 * The PEM files of serve.tls, checked: the private key read as a secret (readSecretFile), the
 * certificate as any file the user can read; then both parsed and matched, so that a certificate
 * given as the key (or a key that is not the certificate's) is said in those words.
 */
export function readTls(s: Pick<ServeSettings, 'tls'>, uid: number, gid: number | undefined): { cert: Buffer; key: Buffer } | null {
  if (!s.tls) return null;
  const { cert: certFile, key: keyFile } = s.tls;
  const pair = 'give serve.tls.cert a PEM certificate and serve.tls.key the PEM private key that belongs to it (mode 600)';
  const key = readSecretFile(keyFile, { setting: 'serve.tls.key', where: `the TLS private key file ${keyFile} (serve.tls.key)`, what: 'a private key', hint: pair, maxBytes: MAX_TLS_KEY_BYTES }, uid, gid);
  let cert: Buffer;
  let fd: number;
  try {
    fd = openSync(certFile, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw new ConfigError(`cannot read the TLS certificate file ${certFile} (serve.tls.cert): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, pair);
  }
  try {
    if (!fstatSync(fd).isFile()) throw new ConfigError(`the TLS certificate file ${certFile} (serve.tls.cert) is not a regular file`, pair);
    cert = readFileSync(fd);
  } finally {
    closeSync(fd);
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new ConfigError(`the TLS certificate file ${certFile} (serve.tls.cert) holds no PEM certificate`, pair);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ERR_MISSING_PASSPHRASE' ? 'is encrypted with a passphrase (medic serve cannot ask for it)' : /CERTIFICATE-----/.test(key.toString('latin1')) ? 'holds a certificate, not a private key' : 'holds no PEM private key';
    throw new ConfigError(`the TLS private key file ${keyFile} (serve.tls.key) ${why}`, pair);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new ConfigError(`the TLS private key in ${keyFile} (serve.tls.key) does not belong to the certificate in ${certFile} (serve.tls.cert)`, pair);
  }
  return { cert, key };
}

/**
 * Whether `given` is the ping key, in time that does not depend on where they differ: both are
 * hashed first, so their lengths do not show either.
 */
export function keyMatches(given: string, key: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(key));
}

/**
 * [ecosystem] The status page's view key from `serve.viewKeyEnv`, checked like a ping key; null
 * when the config names no variable, or the variable is unset and serve.listen is loopback. A variable named but unset, a short or malformed key, or a
 * key equal to the ping key (which every job is handed) is a ConfigError (78) that names where it
 * was looked for, never the key.
 */
export function readViewKey(s: Pick<ServeSettings, 'viewKeyEnv' | 'host' | 'pingKeyEnv' | 'pingKeyFile'>, env: NodeJS.ProcessEnv, pingKey: string): string | null {
  if (s.viewKeyEnv === null) return null;
  // On a loopback listener the page is open and the key is never asked for: an unset variable
  // (the example config's serve section copied as is) must not stop serve.
  if (env[s.viewKeyEnv] === undefined && isLoopback(s.host)) return null;
  const where = viewKeySource(s);
  const setIt = `set ${s.viewKeyEnv} to a view key of 16 to 256 of A-Z a-z 0-9 _ -, different from the ping key; ${MAKE_ONE}`;
  const key = env[s.viewKeyEnv]?.trim() ?? null;
  if (key === null) throw new ConfigError(`the status page's view key: ${where} is not set`, `${setIt} (or remove serve.viewKeyEnv)`);
  if (key === '') throw new ConfigError(`the status page's view key: ${where} is empty`, setIt);
  if (key.length < 16) throw new ConfigError(`the view key in ${where} is too short (${key.length} characters): it must be 16 to 256 of A-Z a-z 0-9 _ -`, setIt);
  if (!PING_KEY.test(key)) throw new ConfigError(`the view key in ${where} ${shapeProblem(key)}`, setIt);
  if (key === pingKey) {
    throw new ConfigError(
      `the view key in ${where} is the ping key of ${pingKeySource(s)}: the ping key is handed to every job, and the view key must not open the status page to them`,
      `give the status page a view key of its own; ${MAKE_ONE}`,
    );
  }
  return key;
}

/** What is wrong with a key of at least 16 characters that PING_KEY refuses (never quoting it). */
function shapeProblem(key: string): string {
  if (key.length > 256) return `is too long (${key.length} characters): it must be 16 to 256 of A-Z a-z 0-9 _ -`;
  return `holds a character other than A-Z a-z 0-9 _ - (a space, a quote, a newline?): it must be 16 to 256 of them`;
}

/** Where the view key is read from, in words for messages. */
export function viewKeySource(s: Pick<ServeSettings, 'viewKeyEnv'>): string {
  return `the environment variable ${s.viewKeyEnv ?? '(none)'} (serve.viewKeyEnv)`;
}

/**
 * [ecosystem] The key a request presents for the status page: the password of HTTP Basic auth
 * (any user name), or a Bearer token. Null when the Authorization header holds neither.
 */
export function presentedKey(authorization: string | undefined): string | null {
  if (authorization === undefined) return null;
  const m = /^\s*(Basic|Bearer)\s+(\S+)\s*$/i.exec(authorization);
  if (!m) return null;
  if (m[1]!.toLowerCase() === 'bearer') return m[2]!;
  const decoded = Buffer.from(m[2]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(colon + 1);
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** 127.0.0.0/8, ::1 (however written, and ::ffff:127.x.y.z), localhost. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  const family = isIP(h);
  return family !== 0 && LOOPBACK.check(h, family === 4 ? 'ipv4' : 'ipv6');
}
