/**
 * `medic beat` and `medic run` on a host without a database: with MEDIC_URL set or `--url` given
 * (the flag wins), the beat goes over HTTP to `medic serve` (src/notify/ping-client.ts) instead of
 * a config and a store. No config file is needed on such a host.
 */
import { randomUUID } from 'node:crypto';
import { parseDuration } from '../core/duration.js';
import { headChars, tailUtf8 } from '../core/signal-bounds.js';
import { MESSAGE_MAX_CHARS, OUTPUT_TAIL_DEFAULT_BYTES } from '../core/signal.js';
import { ConfigError, isMedicError, UsageError } from '../errors.js';
import { PING_BUDGET_MS, PING_URL_EXAMPLE, pingClient, type PingBase, type PingClientDeps, readPingBase } from '../notify/ping-client.js';
import { type BeatSignal, checkSlug } from './beat.js';
import type { RunRemote } from './run.js';

/** Where remote beats go and how long each may take. */
export interface RemoteTarget {
  base: PingBase;
  /** MEDIC_URL_TIMEOUT, else PING_BUDGET_MS. */
  budgetMs: number;
}

/** MEDIC_URL_TIMEOUT is a duration within these bounds. */
export const REMOTE_TIMEOUT_MIN_MS = 1000;
export const REMOTE_TIMEOUT_MAX_MS = 5 * 60_000;
/** `medic run` waits at most this long for its start signal before going on without it. */
export const RUN_START_BUDGET_MS = 2000;
/** Beyond a ping's own budget, how long `medic run` gives it before going on anyway (a safety net). */
const RUN_MARGIN_MS = 1000;

/**
 * The base URL and budget from `value` (the `--url` flag, else MEDIC_URL) and MEDIC_URL_TIMEOUT.
 * A bad `--url` is a usage error (64); a bad MEDIC_URL or MEDIC_URL_TIMEOUT a config error (78).
 * The problem never quotes the ping key.
 */
export function remoteTarget(value: string, from: 'MEDIC_URL' | '--url', env: NodeJS.ProcessEnv): RemoteTarget {
  const read = readPingBase(value);
  if ('problem' in read) {
    const hint = `${from === '--url' ? '--url' : 'MEDIC_URL'} is the ping URL of medic serve: ${PING_URL_EXAMPLE} (https, or http to 127.0.0.1 / localhost / [::1])`;
    throw from === '--url' ? new UsageError(`--url: ${read.problem}`, hint) : new ConfigError(`MEDIC_URL: ${read.problem}`, hint);
  }
  let budgetMs = PING_BUDGET_MS;
  const timeout = env.MEDIC_URL_TIMEOUT;
  if (timeout !== undefined && timeout !== '') {
    const ms = parseDuration(timeout);
    if (ms === null || ms < REMOTE_TIMEOUT_MIN_MS || ms > REMOTE_TIMEOUT_MAX_MS) {
      throw new ConfigError(`MEDIC_URL_TIMEOUT: expected a duration from 1s to 5m like "10s", got ${JSON.stringify(headChars(timeout, 40))}`, `unset it for the default (${PING_BUDGET_MS / 1000}s)`);
    }
    budgetMs = ms;
  }
  return { base: read, budgetMs };
}

/**
 * `medic beat <slug> [--start|--fail] [-m text]` over HTTP: `/<slug>`, `/<slug>/start` or
 * `/<slug>/fail`, the message as the body (its first MESSAGE_MAX_CHARS characters, the ping key
 * hidden). Silent on success; throws 65 (unknown slug or wrong key, a refusal), 75 (not delivered
 * in time), 78 (the URL answers as no medic serve would).
 */
export async function remoteBeat(input: { slug: string; signal?: BeatSignal }, target: RemoteTarget, deps: PingClientDeps): Promise<void> {
  checkSlug(input.slug);
  const client = pingClient(target.base, deps);
  const kind = input.signal?.kind ?? 'ok';
  const message = input.signal?.message;
  const body = message ? headChars(client.hide(message), MESSAGE_MAX_CHARS) : undefined;
  const what = kind === 'start' ? 'start signal' : kind === 'fail' ? 'failure' : 'beat';
  await client.send({ slug: input.slug, signal: kind, ...(body !== undefined && { body }) }, target.budgetMs, what);
}

/**
 * `medic run`'s start and end over HTTP, paired by one `?rid=`: the start within
 * RUN_START_BUDGET_MS (the job runs meanwhile), the end (`/<exit-status>`, the output's tail and
 * medic's own word on the run as the body) within the target's budget.
 */
export function remoteRun(slug: string, target: RemoteTarget, deps: PingClientDeps): RunRemote {
  const client = pingClient(target.base, deps);
  const runId = randomUUID();
  const startBudgetMs = Math.min(RUN_START_BUDGET_MS, target.budgetMs);
  return {
    boundMs: { start: startBudgetMs + RUN_MARGIN_MS, end: target.budgetMs + RUN_MARGIN_MS },
    hide: client.hide,
    start: async () => {
      checkSlug(slug);
      await client.send({ slug, signal: 'start', runId }, startBudgetMs, 'start signal');
    },
    end: async (s) => {
      checkSlug(slug);
      const tail = s.outputTail ?? '';
      const said = s.message ? `${tail === '' || tail.endsWith('\n') ? '' : '\n'}${s.message}\n` : '';
      const body = tailUtf8(client.hide(`${tail}${said}`), OUTPUT_TAIL_DEFAULT_BYTES);
      const signal = typeof s.exitCode === 'number' ? { exitStatus: s.exitCode } : s.kind === 'ok' ? 'ok' : 'fail';
      const what = typeof s.exitCode === 'number' ? `end of the run (exit status ${s.exitCode})` : 'end of the run';
      await client.send({ slug, signal, runId, ...(body !== '' && { body }) }, target.budgetMs, what);
    },
  };
}

/** A run whose MEDIC_URL (or MEDIC_URL_TIMEOUT) is wrong: the job runs, unmonitored, and says why once. */
export function unmonitoredRun(err: unknown): RunRemote {
  const fail = () => Promise.reject(isMedicError(err) ? err : new Error(String(err)));
  return { boundMs: { start: RUN_MARGIN_MS, end: RUN_MARGIN_MS }, hide: (text) => text, start: fail, end: fail };
}
