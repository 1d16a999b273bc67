import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { Target } from '../config.js';
import { dirname, resolve } from 'node:path';
import { checkLinks } from '../config-file.js';
import { isMedicError, keysInEnv, ROUTING_KEY_SHAPE } from '../errors.js';
import { trustProblem } from '../file-trust.js';
import { GET_KEY, missingKeyHint } from '../hints.js';
import type { KeyRef } from '../store/types.js';

export function keyRefOf(target: Target): KeyRef {
  return target.routingKeyFile ? `file:${target.routingKeyFile}` : `env:${target.routingKeyEnv}`;
}

/** Where a key comes from, in words for messages: `env PAGERDUTY_ROUTING_KEY`, `file /run/secrets/pd`. */
export function describeKeyRef(ref: KeyRef): string {
  return ref.startsWith('env:') ? `environment variable ${ref.slice(4)}` : `file ${ref.slice(5)}`;
}

/** Why a target has no usable key: `missing` (not there) or `bad` (there, but wrong shape or unsafe to read). */
export type KeyProblem = { kind: 'missing' | 'bad'; message: string; hint: string };

/** Enough for any key file a person writes (a key and a newline); a bigger file is not a key. */
const MAX_KEY_FILE_BYTES = 4096;

/**
 * Reads a routing key at send time. Returns the key, or why there is none. The key is never
 * returned inside an error, logged or stored.
 */
export function readKey(ref: KeyRef, env: NodeJS.ProcessEnv): { key: string } | { missing: string } {
  const read = readRawKey(ref, env, null);
  return 'key' in read ? read : { missing: read.message };
}

/**
 * The target's routing key, read now from its current key source, checked before anything is
 * sent: a key file must be safe to trust (owned by `uid` or root, not writable by group or others;
 * `uid` null skips that check), and the key must be 32 letters and digits (SPEC §5). The problem
 * names the source and what is wrong, never the key.
 */
export function readTargetKey(target: Target, env: NodeJS.ProcessEnv, uid: number | null): { key: string } | KeyProblem {
  const ref = keyRefOf(target);
  const read = readRawKey(ref, env, uid);
  if (!('key' in read)) return read;
  const problem = keyShapeProblem(read.key);
  if (!problem) return read;
  return {
    kind: 'bad',
    message: `the routing key in ${describeKeyRef(ref)} ${problem}`,
    hint: `copy ${GET_KEY} again, whole, without quotes or spaces`,
  };
}

/** What is wrong with a value read as a routing key ("is 33 characters, expected 32 letters and digits"), or null. */
export function keyShapeProblem(key: string): string | null {
  if (ROUTING_KEY_SHAPE.test(key)) return null;
  if (key.length !== 32) return `is ${key.length} characters, expected 32 letters and digits`;
  return 'has characters other than letters and digits, expected 32 letters and digits';
}

function readRawKey(ref: KeyRef, env: NodeJS.ProcessEnv, uid: number | null): { key: string } | KeyProblem {
  const where = describeKeyRef(ref);
  if (ref.startsWith('env:')) {
    const name = ref.slice(4);
    const setIt = missingKeyHint(ref);
    const value = env[name];
    if (value === undefined) return { kind: 'missing', message: `${where} is not set`, hint: setIt };
    const key = value.trim();
    return key ? { key } : { kind: 'missing', message: `${where} is set but empty`, hint: setIt };
  }
  const file = ref.slice(5);
  const writeIt = missingKeyHint(ref);
  let before: ReturnType<typeof checkLinks> = null;
  try {
    // Every link on the way the user's or root's, as for the config: else its owner picks the file read.
    if (uid !== null) before = checkLinks(resolve(file), uid, where);
  } catch (err) {
    if (!isMedicError(err)) throw err;
    return { kind: 'bad', message: err.message, hint: err.hint ?? writeIt };
  }
  let fd: number;
  try {
    // Non-blocking, so a FIFO planted at the path cannot hang the run.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return { kind: 'missing', message: `cannot read ${where}: ${code}`, hint: writeIt };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { kind: 'bad', message: `${where} is not a regular file`, hint: writeIt };
    const distrust = uid === null ? null : trustProblem(st, uid);
    if (distrust) {
      return {
        kind: 'bad',
        message: `${where} is not safe to read a routing key from: ${distrust}`,
        hint: `make it the user's own and private: chown ${uid} ${file} && chmod 600 ${file}`,
      };
    }
    if (uid !== null && (before === null || before.dev !== st.dev || before.ino !== st.ino)) {
      return { kind: 'bad', message: `${where} changed while Medic was reading it`, hint: 'run the command again; if this repeats, someone is changing the file or a link to it' };
    }
    const buf = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    const n = readSync(fd, buf, 0, buf.length, 0);
    if (n > MAX_KEY_FILE_BYTES) return { kind: 'bad', message: `${where} is larger than ${MAX_KEY_FILE_BYTES} bytes: not a routing key`, hint: writeIt };
    const key = buf.subarray(0, n).toString('utf8').trim();
    return key ? { key } : { kind: 'missing', message: `${where} is empty`, hint: writeIt };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return { kind: 'missing', message: `cannot read ${where}: ${code}`, hint: writeIt };
  } finally {
    closeSync(fd);
  }
}

/**
 * A one-way fingerprint of where and with what key an event would be sent: a refusal is kept
 * until this changes. Never the key itself (SHA-256, truncated; a key has 190 bits).
 */
export function targetFingerprint(eventsUrl: string, key: string): string {
  return createHash('sha256').update(`${eventsUrl}\n${key}`).digest('hex').slice(0, 16);
}

/**
 * Every routing key this process can see, to hide them in what a job printed (never to send): the
 * keys in the environment, and the key files the parsed config's targets name (relative to the
 * config's folder), read with the same care as for sending; a file that cannot be read is passed over.
 */
export function keysToHide(raw: unknown, configFile: string, env: NodeJS.ProcessEnv, uid: number): string[] {
  const keys = keysInEnv(env);
  const targets = raw !== null && typeof raw === 'object' ? (raw as { targets?: unknown }).targets : undefined;
  if (targets === null || typeof targets !== 'object') return keys;
  for (const t of Object.values(targets as Record<string, unknown>)) {
    const file = t !== null && typeof t === 'object' ? (t as { routingKeyFile?: unknown }).routingKeyFile : undefined;
    if (typeof file !== 'string' || file === '') continue;
    const read = readRawKey(`file:${resolve(dirname(configFile), file)}`, env, uid);
    if ('key' in read && !keyShapeProblem(read.key)) keys.push(read.key);
  }
  return keys;
}

/** keysToHide for a built config: the keys in the environment and those of its targets' key files this process can read. */
export function configKeys(targets: Iterable<Target>, env: NodeJS.ProcessEnv, uid: number): string[] {
  const files = Object.fromEntries([...targets].map((t) => [t.name, { routingKeyFile: t.routingKeyFile }]));
  return keysToHide({ targets: files }, '/', env, uid);
}
