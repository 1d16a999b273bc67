import { createHash, timingSafeEqual } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { ServeSettings } from '../config.js';
import { ConfigError } from '../errors.js';
import { trustProblem } from '../file-trust.js';

/** A ping key: 16 or more of A-Z a-z 0-9 _ - (Healthchecks' are 22 of them); at most 256. */
const PING_KEY = /^[A-Za-z0-9_-]{16,256}$/;
const MAKE_ONE = "make one with `openssl rand -base64 24 | tr '+/' '-_'`";

/**
 * The ping key from `serve.pingKeyEnv` or `serve.pingKeyFile`, checked. A missing, short or
 * malformed key is a ConfigError (78) that names where it was looked for and what is wrong, never
 * the key. A key file must be the user's or root's and not writable by others (SPEC §8).
 */
export function readPingKey(s: Pick<ServeSettings, 'pingKeyEnv' | 'pingKeyFile'>, env: NodeJS.ProcessEnv, uid: number, gid?: number): string {
  const where = s.pingKeyFile ? `the ping key file ${s.pingKeyFile} (serve.pingKeyFile)` : `the environment variable ${s.pingKeyEnv} (serve.pingKeyEnv)`;
  const setIt = s.pingKeyFile
    ? `write a ping key of 16 or more of A-Z a-z 0-9 _ - into ${s.pingKeyFile} (mode 600, owned by the user that runs medic serve); ${MAKE_ONE}`
    : `set ${s.pingKeyEnv} to a ping key of 16 or more of A-Z a-z 0-9 _ - (or name a file in serve.pingKeyFile); ${MAKE_ONE}`;
  const key = (s.pingKeyFile ? readKeyFile(s.pingKeyFile, where, setIt, uid, gid) : (env[s.pingKeyEnv!] ?? null))?.trim() ?? null;
  if (key === null) throw new ConfigError(`medic serve needs a ping key: ${where} is not set`, setIt);
  if (key === '') throw new ConfigError(`medic serve needs a ping key: ${where} is empty`, setIt);
  if (key.length < 16) throw new ConfigError(`the ping key in ${where} is too short (${key.length} characters): it must be 16 or more of A-Z a-z 0-9 _ -`, setIt);
  if (!PING_KEY.test(key)) {
    throw new ConfigError(`the ping key in ${where} is not 16 to 256 of A-Z a-z 0-9 _ - (it is ${key.length} characters, or holds other characters)`, setIt);
  }
  return key;
}

function readKeyFile(file: string, where: string, hint: string, uid: number, gid: number | undefined): string {
  let fd: number;
  try {
    // Non-blocking: a FIFO planted at the path cannot hang the start.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw new ConfigError(`cannot read ${where}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, hint);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ConfigError(`${where} is not a regular file`, hint);
    const distrust = trustProblem(st, uid, { ownGroup: gid });
    if (distrust) throw new ConfigError(`${where} is not safe to read a ping key from: ${distrust}`, `make it the user's own and private: chown ${uid} ${file} && chmod 600 ${file}`);
    const buf = Buffer.alloc(1025);
    const n = readSync(fd, buf, 0, buf.length, 0);
    if (n > 1024) throw new ConfigError(`${where} is larger than 1024 bytes: not a ping key`, hint);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether `given` is the ping key, in time that does not depend on where they differ: both are
 * hashed first, so their lengths do not show either.
 */
export function keyMatches(given: string, key: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(key));
}
