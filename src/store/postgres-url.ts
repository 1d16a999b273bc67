/**
 * [scale] What the config and the store need to know about a PostgreSQL "database" without loading
 * pg: whether a value is a URL, whether it is one Medic accepts, and the password file's contents.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
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
