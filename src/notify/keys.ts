import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { checkUrl, type Target } from '../config.js';
import { dirname, resolve } from 'node:path';
import { checkLinks } from '../config-file.js';
import { isMedicError, keysInEnv, ROUTING_KEY_SHAPE, secretForms } from '../errors.js';
import { trustProblem } from '../file-trust.js';
import { GET_KEY, KEY_FILE_ADVICE, missingKeyHint } from '../hints.js';
import type { KeyRef } from '../store/types.js';

/** Where a target's secret is read: a PagerDuty routing key, a Slack webhook URL or bot token, a webhook's signing secret. */
export function keyRefOf(target: Target): KeyRef {
  if (target.type !== 'pagerduty') return target.secret;
  return target.routingKeyFile ? `file:${target.routingKeyFile}` : `env:${target.routingKeyEnv}`;
}

/** What a target's secret is, in words for messages: "routing key", "Slack webhook URL", "Slack bot token", "signing secret". */
export function secretNoun(target: Target): string {
  if (target.type === 'pagerduty') return 'routing key';
  if (target.type === 'webhook') return 'signing secret';
  return target.mode === 'token' ? 'Slack bot token' : 'Slack webhook URL';
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
  const read = readRawKey(ref, env, null, 'routing key');
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
  const noun = secretNoun(target);
  const read = readRawKey(ref, env, uid, noun);
  // [targets] readRawKey's advice names PagerDuty's Integration Key: a Slack or webhook secret gets its own.
  if (!('key' in read)) return target.type !== 'pagerduty' && read.hint === missingKeyHint(ref) ? { ...read, hint: missingSecretHint(target) } : read;
  const problem = secretShapeProblem(target, read.key);
  if (!problem) return read;
  return {
    kind: 'bad',
    message: `the ${noun} in ${describeKeyRef(ref)} ${problem}`,
    hint: target.type === 'pagerduty' ? `copy ${GET_KEY} again, whole, without quotes or spaces` : `copy the ${noun} again, whole, without quotes or spaces`,
  };
}

/** [targets] Where a Slack or webhook target's secret comes from, for advice: the thing itself and the key naming a file. */
const SECRET_SOURCE = {
  'Slack webhook URL': { what: "the incoming webhook's URL (Slack → your app → Incoming Webhooks)", fileKey: 'webhookUrlFile' },
  'Slack bot token': { what: 'the bot token (xoxb-…, Slack → your app → OAuth & Permissions)', fileKey: 'tokenFile' },
  'signing secret': { what: 'the signing secret your receiver verifies with (16 characters or more)', fileKey: 'secretFile' },
} as const;

/**
 * What to do when a target's secret is missing: for PagerDuty, missingKeyHint; for a Slack or
 * webhook target, the same advice (a private file first; a variable on the check line only) in
 * that target's words.
 */
export function missingSecretHint(target: Target): string {
  const ref = keyRefOf(target);
  if (target.type === 'pagerduty') return missingKeyHint(ref);
  const { what } = SECRET_SOURCE[secretNoun(target) as keyof typeof SECRET_SOURCE];
  if (ref.startsWith('file:')) return `write ${what} into ${ref.slice(5)} (mode 600, owned by the user that runs medic)`;
  const name = ref.slice(4);
  return (
    `${secretFileAdvice(target)}; or export ${name}=<the ${secretNoun(target)}> in this shell, and in the crontab put ${name}=<…> ` +
    'in front of medic on the check line only (a line of its own hands it to every job in the crontab)'
  );
}

/** The recommended way to give Medic a target's secret (for PagerDuty, KEY_FILE_ADVICE): a private file, named in the target. */
export function secretFileAdvice(target: Target): string {
  if (target.type === 'pagerduty') return KEY_FILE_ADVICE;
  const { what, fileKey } = SECRET_SOURCE[secretNoun(target) as keyof typeof SECRET_SOURCE];
  return `put ${what} in a file only the user that runs medic can read (chmod 600) and name it in the target's "${fileKey}"`;
}

/** The shortest signing secret a webhook target takes (the 16 characters; HMAC-SHA256 wants more, and gets what it is given). */
export const MIN_SIGNING_SECRET = 16;
/** A bot token: xoxb-… (or another xox?- kind), letters, digits and dashes. */
const SLACK_TOKEN_SHAPE = /^xox[a-z]-[A-Za-z0-9-]{8,250}$/;

/** What is wrong with a value read as `target`'s secret (never quoting it), or null. */
export function secretShapeProblem(target: Target, value: string): string | null {
  if (target.type === 'pagerduty') return keyShapeProblem(value);
  if (target.type === 'webhook') {
    if (value.length < MIN_SIGNING_SECRET) return `is ${value.length} characters, expected ${MIN_SIGNING_SECRET} or more`;
    if (/[\s\u0000-\u001f\u007f-\u009f]/.test(value)) return 'holds spaces or control characters';
    return null;
  }
  if (target.mode === 'token') {
    if (SLACK_TOKEN_SHAPE.test(value)) return null;
    if (/^https?:\/\//i.test(value)) return 'is a URL, not a bot token: an incoming webhook\'s URL goes in a file named by "webhookUrlFile" (or a variable named by "webhookUrlEnv"), without "channel"';
    return 'is not shaped like a Slack bot token (xoxb-, or another xox?- kind, then letters, digits and dashes)';
  }
  // One line, nothing else: "<url> extra" or a pasted line with a comment would be posted to a wrong path.
  if (/[\s\u0000-\u001f\u007f-\u009f]/.test(value)) return 'holds spaces or control characters: the file (or variable) must hold the webhook URL alone';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not a URL (expected https://hooks.slack.com/services/…)';
  }
  if (url.username || url.password) return 'holds a user name or password';
  // checkUrl quotes what it got: here that is the secret itself (any host may serve one), so never.
  const problem = checkUrl(value)?.replace(/, got .*$/s, '');
  return problem ? `is not usable: ${problem.replace(/[^\x20-\x7e]/g, '?')}` : null;
}

/** What is wrong with a value read as a routing key ("is 33 characters, expected 32 letters and digits"), or null. */
export function keyShapeProblem(key: string): string | null {
  if (ROUTING_KEY_SHAPE.test(key)) return null;
  if (key.length !== 32) return `is ${key.length} characters, expected 32 letters and digits`;
  return 'has characters other than letters and digits, expected 32 letters and digits';
}

function readRawKey(ref: KeyRef, env: NodeJS.ProcessEnv, uid: number | null, noun: string): { key: string } | KeyProblem {
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
        message: `${where} is not safe to read a ${noun} from: ${distrust}`,
        hint: `make it the user's own and private: chown ${uid} ${file} && chmod 600 ${file}`,
      };
    }
    if (uid !== null && (before === null || before.dev !== st.dev || before.ino !== st.ino)) {
      return { kind: 'bad', message: `${where} changed while Medic was reading it`, hint: 'run the command again; if this repeats, someone is changing the file or a link to it' };
    }
    const buf = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    const n = readSync(fd, buf, 0, buf.length, 0);
    if (n > MAX_KEY_FILE_BYTES) return { kind: 'bad', message: `${where} is larger than ${MAX_KEY_FILE_BYTES} bytes: not a ${noun}`, hint: writeIt };
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
 * Every secret this process can see, to hide them in what a job printed (never to send): the
 * routing keys in the environment, and the secret of every target the parsed config names (its
 * variable, or its file relative to the config's folder, read with the same care as for
 * sending); a secret that cannot be read is passed over.
 */
export function keysToHide(raw: unknown, configFile: string, env: NodeJS.ProcessEnv, uid: number): string[] {
  const keys = keysInEnv(env);
  const targets = raw !== null && typeof raw === 'object' ? (raw as { targets?: unknown }).targets : undefined;
  if (targets === null || typeof targets !== 'object') return keys;
  for (const t of Object.values(targets as Record<string, unknown>)) {
    if (t === null || typeof t !== 'object') continue;
    for (const [field, value] of Object.entries(t as Record<string, unknown>)) {
      if (typeof value !== 'string' || value === '' || !SECRET_SOURCES.has(field)) continue;
      const ref: KeyRef = field.endsWith('File') ? `file:${resolve(dirname(configFile), value)}` : `env:${value}`;
      const read = readRawKey(ref, env, uid, 'secret');
      // At least 8 characters: hiding a shorter value would garble ordinary text.
      if ('key' in read && read.key.length >= 8 && (field !== 'routingKeyFile' || !keyShapeProblem(read.key))) keys.push(...secretForms(read.key));
    }
  }
  return [...new Set(keys)];
}

/** The keys of a target that name where a secret is read. */
const SECRET_SOURCES = new Set(['routingKeyFile', 'webhookUrlEnv', 'webhookUrlFile', 'tokenEnv', 'tokenFile', 'secretEnv', 'secretFile']);

/** keysToHide for a built config: the keys in the environment and the secrets of its targets this process can read. */
export function configKeys(targets: Iterable<Target>, env: NodeJS.ProcessEnv, uid: number): string[] {
  const raw = Object.fromEntries(
    [...targets].map((t) => {
      if (t.type === 'pagerduty') return [t.name, { routingKeyFile: t.routingKeyFile }];
      const ref = t.secret;
      return [t.name, ref.startsWith('file:') ? { secretFile: ref.slice(5) } : { secretEnv: ref.slice(4) }];
    }),
  );
  return keysToHide({ targets: raw }, '/', env, uid);
}
