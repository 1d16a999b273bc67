/**
 * [scale] What the config and the store need to know about a PostgreSQL "database" without loading
 * pg: whether a value is a URL, whether it is one Medic accepts, and the password file's contents.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { checkLinks } from '../config-file.js';
import { ConfigError } from '../errors.js';
import { trustProblem } from '../file-trust.js';

/** Whether "database" (or MEDIC_DB) names a PostgreSQL database rather than a file. */
export function isPostgresUrl(database: string): boolean {
  return /^postgres(ql)?:\/\//i.test(database);
}

/** What a postgres URL names, for messages: never a password, never the query (it may hold options). */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    const user = u.username ? `${decodeURIComponent(u.username)}@` : '';
    const db = decodeURIComponent(u.pathname.replace(/^\//, '')) || '(default database)';
    return `PostgreSQL database "${db}" at ${user}${u.hostname || 'localhost'}:${u.port || '5432'}`;
  } catch {
    return 'the PostgreSQL database in "database"';
  }
}

/** URL options that hold no secret and name no file: the only ones a URL is printed with. */
const SHOWN_OPTIONS = ['sslmode', 'application_name', 'connect_timeout', 'target_session_attrs', 'uselibpqcompat'];

/**
 * A postgres URL as Medic prints it where the URL itself is needed (the line to put in a config):
 * no password, and only the query options of SHOWN_OPTIONS; `dropped` counts the others (file
 * paths, anything unknown), never naming them.
 */
export function shownUrl(url: string): { url: string; dropped: number } {
  try {
    const u = new URL(url);
    u.password = '';
    const keys = new Set(u.searchParams.keys());
    let dropped = 0;
    for (const key of keys) {
      // A value shaped like a routing key (32 letters and digits) is not shown, whatever its option.
      if (SHOWN_OPTIONS.includes(key) && !/[A-Za-z0-9]{32}/.test(u.searchParams.get(key) ?? '')) continue;
      u.searchParams.delete(key);
      dropped++;
    }
    return { url: u.toString(), dropped };
  } catch {
    return { url: 'the PostgreSQL URL given', dropped: 0 };
  }
}

/** The `sslmode` values under which pg refuses to talk without TLS. */
const ENCRYPTED_MODES = ['require', 'verify-ca', 'verify-full'];

/**
 * Whether a postgres URL may send the password and beats over the network unencrypted: a host
 * that is not this machine (loopback, a Unix socket) and no `sslmode` of require, verify-ca or
 * verify-full (pg's default is no TLS at all); without an sslmode, `ssl=true` or a certificate
 * file (sslrootcert, sslcert, sslkey) turns TLS on too.
 */
export function sentInClear(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  const host = (u.searchParams.get('host') ?? decodeURIComponent(u.hostname)).replace(/^\[(.*)\]$/, '$1');
  const local = host === '' || host.startsWith('/') || host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
  const q = u.searchParams;
  const mode = q.getAll('sslmode').at(-1);
  // Without sslmode, pg turns TLS on (verified) for ssl=true or a certificate file.
  const tls = mode === undefined ? ['true', '1'].includes(q.getAll('ssl').at(-1) ?? '') || SSL_FILES.some(([name]) => q.get(name)) : ENCRYPTED_MODES.includes(mode);
  return !local && !tls;
}

const PASSWORD_ADVICE = 'remove it from the URL and give it through "passwordFile" (a file only this user can read), PGPASSWORD, or ~/.pgpass';

/**
 * Why a postgres URL is refused, or null. A password in it (user:password@, or ?password=) would
 * sit in the config file and in messages: refused like a literal routing key, and never echoed.
 */
export function databaseUrlProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'expected a URL like postgres://medic@db.example.com:5432/medic, but this one cannot be parsed';
  }
  if (u.password !== '') return `a password in the database URL is refused; ${PASSWORD_ADVICE}`;
  for (const key of u.searchParams.keys()) {
    if (key.toLowerCase() === 'password') return `a password in the database URL (?password=) is refused; ${PASSWORD_ADVICE}`;
    if (key.toLowerCase() === 'sslpassword') return 'a password in the database URL (?sslpassword=) is refused; use a client key (sslkey) that is not encrypted, readable only by this user (chmod 600)';
  }
  return null;
}

/** A password file is one line; anything much bigger is not one. */
const MAX_PASSWORD_FILE_BYTES = 4096;

/**
 * The password in `file` (its first line), read as key files are (notify/keys.ts): every link on
 * the way the user's or root's (checkLinks), opened without blocking (a FIFO cannot hang the run),
 * a regular file owned by `uid` or root that nobody else can read or write (mode 600, as the docs
 * say; a link to /etc/shadow, root's and group-readable, is refused). Problems are ConfigErrors
 * (78) naming the file, never its contents.
 */
export function readPasswordFile(file: string, uid: number): string {
  const where = `passwordFile ${file}`;
  const before = checkLinks(resolve(file), uid, where);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError(`cannot read ${where}: ${code}`, 'write the PostgreSQL password on one line in that file (chmod 600), or fix "passwordFile"');
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ConfigError(`${where} is not a regular file`, 'point "passwordFile" at a file holding the password');
    const problem = trustProblem(st, uid) ?? (st.mode & 0o077 ? `its group or other users can read or write it (mode ${(st.mode & 0o777).toString(8).padStart(3, '0')})` : null);
    if (problem) {
      throw new ConfigError(`refusing ${where}: ${problem}`, `make it the user's own and private: chown ${uid} ${file} && chmod 600 ${file}`);
    }
    // The file opened must be the one the links were checked to lead to (not one swapped in since).
    if (before === null || before.dev !== st.dev || before.ino !== st.ino) {
      throw new ConfigError(`refusing ${where}: it changed while Medic was reading it`, 'run the command again; if this repeats, someone is changing the file or a link to it');
    }
    const buf = Buffer.alloc(MAX_PASSWORD_FILE_BYTES + 1);
    const n = readSync(fd, buf, 0, buf.length, 0);
    if (n > MAX_PASSWORD_FILE_BYTES) throw new ConfigError(`${where} is larger than ${MAX_PASSWORD_FILE_BYTES} bytes: not a password file`, 'put only the password in it, on one line');
    const password = buf.subarray(0, n).toString('utf8').split(/\r?\n/)[0]!;
    if (password === '') throw new ConfigError(`${where} is empty`, 'write the PostgreSQL password on its first line');
    return password;
  } finally {
    closeSync(fd);
  }
}

/** The TLS options of a connection whose certificate files Medic read itself (pg's `ssl`). */
export interface SslOptions {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized?: boolean;
  checkServerIdentity?: () => undefined;
}

/** A certificate or key file is a few KiB; anything near this is not one. */
export const MAX_SSL_FILE_BYTES = 1024 * 1024;

/** The URL options that name files, and what pg reads from them (pg-connection-string). */
const SSL_FILES = [
  ['sslrootcert', 'ca'],
  ['sslcert', 'cert'],
  ['sslkey', 'key'],
] as const;

/**
 * The URL pg may parse, and the TLS options Medic builds in its place when the URL names
 * certificate files (`sslrootcert`, `sslcert`, `sslkey`). pg-connection-string would read those
 * with a blocking readFileSync of any size, at every connection: a FIFO there hangs the run past
 * every timeout, /dev/zero eats the memory. So they are read here, once, as key files are: every
 * link on the way the user's or root's, opened without blocking, a regular file of at most 1 MiB
 * owned by `uid` or root, the client key readable by nobody else (chmod 600). The options pg
 * derives from `sslmode` (and `uselibpqcompat`) are kept: pg's own reading of them, done here,
 * since pg would otherwise replace the `ssl` given beside the URL. A URL without these files is
 * returned as it is.
 */
export function sslFromUrl(url: string, uid: number): { url: string; ssl?: SslOptions | false } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url };
  }
  const q = u.searchParams;
  if (!SSL_FILES.some(([name]) => q.has(name))) return { url };
  const ssl: SslOptions = {};
  for (const [name, field] of SSL_FILES) {
    // pg keeps the last of a repeated option.
    const file = q.getAll(name).at(-1);
    if (file) ssl[field] = readSslFile(file, uid, name);
  }
  const mode = q.getAll('sslmode').at(-1);
  const libpq = q.getAll('uselibpqcompat').at(-1) === 'true';
  for (const name of [...SSL_FILES.map(([n]) => n), 'sslmode', 'uselibpqcompat', 'ssl']) q.delete(name);
  const rest = u.toString();
  if (mode === 'disable') return { url: rest, ssl: false };
  if (libpq) {
    if (mode === 'prefer' || (mode === 'require' && !ssl.ca)) ssl.rejectUnauthorized = false;
    else if (mode === 'require' || mode === 'verify-ca') ssl.checkServerIdentity = () => undefined;
    if (mode === 'verify-ca' && !ssl.ca) throw new ConfigError('sslmode=verify-ca in the database URL needs sslrootcert (the CA to verify with)', 'add sslrootcert=<CA file> to the URL, or use sslmode=verify-full');
  } else if (mode === 'no-verify') {
    ssl.rejectUnauthorized = false;
  }
  return { url: rest, ssl };
}

function readSslFile(file: string, uid: number, name: string): string {
  const where = `${name} ${file} (in the database URL)`;
  const fix = name === 'sslkey' ? `make it the user's own and private: chown ${uid} ${file} && chmod 600 ${file}` : `make it the user's own (or root's) and not writable by others: chown ${uid} ${file} && chmod 644 ${file}`;
  const before = checkLinks(resolve(file), uid, where);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError(`cannot read ${where}: ${code}`, `fix the path in "database" (or MEDIC_DB, or --to): it is the PEM file of ${SSL_WHAT[name] ?? name}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ConfigError(`refusing ${where}: it is not a regular file (a pipe, a device or a socket)`, `point ${name} at the PEM file of ${SSL_WHAT[name] ?? name}`);
    const problem = trustProblem(st, uid) ?? (name === 'sslkey' && st.mode & 0o077 ? `its group or other users can read or write it (mode ${(st.mode & 0o777).toString(8).padStart(3, '0')})` : null);
    if (problem) throw new ConfigError(`refusing ${where}: ${problem}`, fix);
    if (!sameFile(before, st)) throw new ConfigError(`refusing ${where}: it changed while Medic was reading it`, 'run the command again; if this repeats, someone is changing the file or a link to it');
    if (st.size > MAX_SSL_FILE_BYTES) throw new ConfigError(`refusing ${where}: it is ${st.size} bytes, more than ${MAX_SSL_FILE_BYTES} (1 MiB): not a certificate or key`, `point ${name} at the PEM file of ${SSL_WHAT[name] ?? name}`);
    const buf = Buffer.alloc(Math.min(st.size, MAX_SSL_FILE_BYTES) + 1);
    let n = 0;
    while (n < buf.length) {
      const read = readSync(fd, buf, n, buf.length - n, null);
      if (read === 0) break;
      n += read;
    }
    if (n > MAX_SSL_FILE_BYTES) throw new ConfigError(`refusing ${where}: it is larger than ${MAX_SSL_FILE_BYTES} bytes (1 MiB): not a certificate or key`, `point ${name} at the PEM file of ${SSL_WHAT[name] ?? name}`);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

const SSL_WHAT: Record<string, string> = { sslrootcert: 'the CA certificate(s) to verify the server with', sslcert: 'the client certificate', sslkey: "the client certificate's private key" };

function sameFile(before: Stats | null, st: Stats): boolean {
  return before !== null && before.dev === st.dev && before.ino === st.ino;
}
