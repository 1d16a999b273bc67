import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Config } from '../config.js';
import { formatDuration, iso } from '../core/duration.js';
import { activeMute, withUnmute } from '../core/mute.js';
import { dedupKey, type ServiceSpec } from '../core/service.js';
import { decide, evaluate, type Evaluation, type ServiceRecord, type Transition } from '../core/state.js';
import { EXIT, MedicError, mostUrgent, redactJobText } from '../errors.js';
import { configKeys } from '../notify/keys.js';
import { CURED_BY, deliverPending, RECEIVER, refusalAdvice, type DeferReason, type Deferral, type DeliveryReport } from '../notify/deliver.js';
import type { Pinger, Sender } from '../notify/http.js';
import { ingestSpool } from '../spool.js';
import type { ChangeKind, NewEvent, Store, StoredService, TransitionInput, TriggerFacts } from '../store/types.js';

export interface CheckDeps {
  config: Config;
  store: Store;
  send: Sender;
  ping: Pinger;
  env: NodeJS.ProcessEnv;
  /** The user running medic (its effective uid): key files, the spool and the database must be its own or root's. */
  uid: number;
  /** This process and host, for the checker lock (`pid@host`). */
  pid: number;
  host: string;
  /**
   * Which machine and pid namespace `pid` belongs to (checkerIdentity()): a checker of the same host
   * name elsewhere (another machine, a container sharing the host's network) is never judged gone
   * by a pid of ours. Null or absent: unknown, and no checker is taken over before its lease ends.
   */
  identity?: string | null;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Elapsed time for the delivery budget (performance.now()). */
  monotonic: () => number;
  /** [0, 1), for backoff jitter (Math.random). */
  random: () => number;
  /** Resolves after `ms` unless `signal` aborts first: the run's hard limit. */
  timer: (ms: number, signal: AbortSignal) => Promise<void>;
  /** -v lines (stdout). */
  verbose: (line: string) => void;
  /** Notices worth a cron mail even when the run succeeds (stderr). */
  notice: (line: string) => void;
  /** Whether a process id on this host is alive (for taking over a dead checker's lock). */
  isAlive: (pid: number) => boolean;
}

export interface CheckOptions {
  dryRun: boolean;
  /** Send refused events again even though their target's URL and key did not change. */
  retryRefused?: boolean;
}

export interface Change {
  slug: string;
  to: ChangeKind;
  at: number;
  reason: string;
}

export interface CheckResult {
  ran: boolean;
  /** Changes the evaluation found (with --dry-run, none is applied). */
  planned: Change[];
  /** The changes applied (another checker may have applied some first). */
  transitions: Change[];
  delivery: DeliveryReport | null;
  gap: { from: number; to: number } | null;
  /** What could not be delivered, as the error the run ends with (75/76/78); null when all went out. */
  undelivered: MedicError | null;
}

/** Beyond the delivery budget and the timeouts: evaluating, the store, the prune. */
const RUN_SLACK_MS = 15_000;
/**
 * How much longer than the run's hard limit the lock is leased: a live checker is never taken over.
 * Kept small enough that the default lease (65s + 25s = 90s, 95s with a watcher ping) runs out
 * before the second cron minute after a run started: a checker killed mid-run on one host is taken
 * over by the first check on any host that starts a lease after it took the lock — two minutes
 * after it started when cron fires at the same second everywhere, at most lease + 1 minute (2.5)
 * otherwise. A dead process on the same host is taken over at once, by the next minute's check.
 */
const LEASE_MARGIN_MS = 25_000;

/**
 * A check's hard wall-clock limit, whatever the network does (SPEC §5), and its lock lease, longer
 * than that: the delivery budget, plus the longest attempt (an attempt started at the end of the
 * budget runs its full timeout; a Slack resolve with a bot token makes two requests), plus the
 * watcher ping's timeout when there is one, plus slack.
 */
export function runLimits(config: Pick<Config, 'targets' | 'checker'>): { capMs: number; leaseMs: number } {
  const longestTarget = Math.max(0, ...[...config.targets.values()].map((t) => (t.type === 'slack' && t.mode === 'token' ? 2 : 1) * t.timeoutMs));
  const ping = config.checker.heartbeatUrl ? config.checker.timeoutMs : 0;
  const capMs = config.checker.deliveryBudgetMs + longestTarget + ping + RUN_SLACK_MS;
  return { capMs, leaseMs: capMs + LEASE_MARGIN_MS };
}
/** Notices of events not sent, at most, per run; the rest are counted in one line. */
const MAX_SKIP_NOTICES = 20;
/** State changes and delivery records are kept this long (beats: `retention`). */
export const RECORD_RETENTION_MS = 400 * 86_400_000;

/**
 * One checker run: take the lock, register new services, close the books on a checker gap,
 * evaluate every service, record state changes together with their events (outbox), deliver what
 * is due, prune old beats, ping the watcher, release the lock.
 * What could not be delivered comes back as `undelivered`, the error (exit 75/76/78) the run ends with.
 */
export async function check(opts: CheckOptions, given: CheckDeps): Promise<CheckResult> {
  const deps = await onStoreClock(given);
  const { capMs, leaseMs } = runLimits(deps.config);
  const owner = lockOwner(deps);
  const lockedAt = deps.now();
  if (!opts.dryRun && !(await takeLock(owner, lockedAt, leaseMs, deps))) return { ran: false, planned: [], transitions: [], delivery: null, gap: null, undelivered: null };
  const stop = new AbortController();
  const work = runLocked(opts, deps, { owner, leaseUntil: lockedAt + leaseMs }, stop.signal);
  // Racing the run against its hard limit: a network that never answers (a proxy that swallows
  // CONNECT, nodejs/undici#3897) cannot keep the lock held or the run going past it.
  const limit = deps.timer(capMs, stop.signal).then(
    () => 'limit' as const,
    () => 'done' as const,
  );
  const first = await Promise.race([work.then(() => 'done' as const, () => 'done' as const), limit]);
  if (first === 'done') {
    stop.abort();
    return work;
  }
  stop.abort();
  // The abandoned run stops at its next step; whatever it still throws is no longer anyone's.
  work.catch(() => {});
  if (!opts.dryRun) await deps.store.releaseLock(owner, deps.now()).catch(() => {});
  const queued = await deps.store
    .pendingCounts()
    .then((counts) => [...counts.values()].reduce((a, b) => a + b, 0))
    .catch(() => null);
  throw new MedicError(
    `medic check hit its hard limit of ${formatDuration(capMs)} (delivery budget + timeouts + ${formatDuration(RUN_SLACK_MS)}) and stopped; ` +
      `${queued === null ? 'the events not yet delivered stay' : queued === 1 ? '1 event not yet delivered stays' : `${queued} events not yet delivered stay`} queued for the next check`,
    EXIT.tempfail,
    'something on the way to PagerDuty does not answer within its timeout (a proxy? see HTTPS_PROXY); `medic check -v` shows each request',
  );
}

/**
 * [scale] A store with a clock of its own (PostgreSQL) is the one clock of every checker: this
 * run's clock is moved onto it, so checkers on hosts with skewed clocks agree on deadlines and leases.
 */
async function onStoreClock(deps: CheckDeps): Promise<CheckDeps> {
  const storeNow = await deps.store.clock();
  if (storeNow === null) return deps;
  const offset = storeNow - deps.now();
  const local = deps.now;
  return { ...deps, now: () => local() + offset };
}

async function runLocked(opts: CheckOptions, deps: CheckDeps, lock: { owner: string; leaseUntil: number }, signal: AbortSignal): Promise<CheckResult> {
  const { owner } = lock;
  const { store, config } = deps;
  let result: CheckResult;
  try {
    const now = deps.now();
    // What jobs said (a signal's message and output) with any routing key this process can see hidden:
    // it goes into the database, the state change's reason, the trigger's facts and the page.
    const hide = configKeys(config.targets.values(), deps.env, deps.uid);
    if (config.spool && !opts.dryRun) await ingestSpool(config.spool, { store, services: config.bySlug, now, retentionMs: config.retentionMs, uid: deps.uid, verbose: deps.verbose, notice: deps.notice, keysToHide: hide });
    const load = async () => new Map((await store.services()).map((r) => [r.slug, (r.failure ? { ...r, failure: redactJobText(r.failure, hide) } : r)]));
    let records = await load();
    const unregistered = config.services.filter((s) => !records.has(s.slug)).map((s) => s.slug);
    if (unregistered.length > 0 && !opts.dryRun) {
      await store.register(unregistered, now);
      records = await load();
    }
    // A beat stamped after now (the writer's clock ahead) counts as a beat now, once and for good:
    // judged from its stamp, a job that died would look up until that moment came.
    const ahead = [...records.values()].filter((r) => r.lastBeatAt !== null && r.lastBeatAt > now);
    for (const r of ahead) deps.verbose(`${r.slug}: its last beat is stamped ${iso(r.lastBeatAt!)}, after this check's clock; counted as a beat at ${iso(now)} (is the clock of the machine that sent it ahead?)`);
    if (ahead.length > 0 && !opts.dryRun) {
      await store.capFutureBeats(now);
      records = await load();
    }
    const gap = await closeGap(config, records, now, opts.dryRun, deps);
    if (gap && !opts.dryRun) records = await load();
    const recent = await store.recentTriggers(now - config.flap.windowMs);
    const changes = evaluateAll(config, records, recent, now);
    for (const c of changes) deps.verbose(`${opts.dryRun ? 'would mark' : 'marking'} ${c.slug} ${c.to}: ${c.reason}`);
    const applied = opts.dryRun ? new Set<string>() : new Set(await store.applyTransitions(changes, now));
    const planned = changes.map(({ slug, to, at, reason }) => ({ slug, to, at, reason }));
    const transitions = planned.filter((c) => applied.has(c.slug));
    // A service taken out of the config starts afresh if it comes back, instead of paging at once
    // for the beats it missed while it was gone. Its history stays.
    const removed = [...records.values()].filter((r) => !config.bySlug.has(r.slug) && !r.incident).map((r) => r.slug);
    if (removed.length > 0 && !opts.dryRun) await store.forget(removed);
    const delivery = opts.dryRun
      ? null
      : await deliverPending(
          { config, store, send: deps.send, env: deps.env, uid: deps.uid, now: deps.now, sleep: deps.sleep, monotonic: deps.monotonic, random: deps.random, keysToHide: hide },
          {
            budgetMs: config.checker.deliveryBudgetMs,
            concurrency: 8,
            retryRefused: opts.retryRefused === true,
            signal,
            // The claims run out with the lock: whoever takes over a killed checker's lock can send
            // the events it had claimed in the same run, not a lease later.
            claim: { owner, leaseMs: Math.max(1, lock.leaseUntil - deps.now()) },
            onEvent: deps.verbose,
          },
        );
    const notices = (delivery?.skipped ?? []).filter((s) => s.notice);
    for (const s of notices.slice(0, MAX_SKIP_NOTICES)) deps.notice(s.reason);
    // A flood of rows Medic could not have written (planted ones) is said in one line, not one each.
    if (notices.length > MAX_SKIP_NOTICES) deps.notice(`and ${notices.length - MAX_SKIP_NOTICES} more events were not sent (\`medic check -v\` lists each)`);
    if (delivery?.lostClaims) {
      deps.notice('another medic check took over this one\'s lock and its events (it judged this one gone); this one stopped sending, the other sends the rest');
    }
    if (signal.aborted) throw new Error('stopped at the hard limit');
    if (!opts.dryRun) {
      const pruned = await store.prune(now - config.retentionMs, now - Math.max(RECORD_RETENTION_MS, config.retentionMs));
      if (pruned > 0) deps.verbose(`pruned ${pruned} old records`);
    }
    result = { ran: true, planned, transitions, delivery, gap, undelivered: delivery ? undeliveredError(delivery, config.targets) : null };
  } finally {
    if (!opts.dryRun && !signal.aborted) await store.releaseLock(owner, deps.now());
  }
  if (!opts.dryRun && !result.undelivered && config.checker.heartbeatUrl && !signal.aborted) await pingWatcher(config, deps);
  return result;
}

/**
 * This machine's boot and this process's pid namespace, as a short token: two checkers with the
 * same token see the same process ids, so one can tell from a pid whether the other is gone. Null
 * where Linux's /proc does not say (then no checker is taken over before its lease ends).
 */
export function checkerIdentity(): string | null {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const ns = statSync('/proc/self/ns/pid');
    if (!/^[0-9a-f-]{16,64}$/.test(boot) || !ns.ino) return null;
    return createHash('sha256').update(`${boot}\n${ns.dev}:${ns.ino}`).digest('hex').slice(0, 12);
  } catch {
    return null;
  }
}

/** The lock's owner name: `pid@host`, or `pid.identity@host` (status shows the host only). */
export function lockOwner(deps: Pick<CheckDeps, 'pid' | 'host' | 'identity'>): string {
  return deps.identity ? `${deps.pid}.${deps.identity}@${deps.host}` : `${deps.pid}@${deps.host}`;
}

/**
 * Takes the checker lock at `now` for `leaseMs`. Held by a live checker (or one on another host,
 * which this one cannot see): this run leaves the minute to it; its lease running out frees the
 * lock for whichever checker comes next, on any host. Held by a process that is gone from this
 * machine and pid namespace (its owner's identity is ours): taken over at once, with the events it
 * had claimed. A same host name alone proves nothing (a cloned VM, a container with the host's
 * network): without our identity, the holder keeps its lease.
 */
async function takeLock(owner: string, now: number, leaseMs: number, deps: CheckDeps): Promise<boolean> {
  const first = await deps.store.acquireLock(owner, now, leaseMs);
  if (first.acquired) return true;
  const holder = first.holder ?? '';
  const at = holder.indexOf('@');
  const [who, host] = at < 0 ? ['', holder] : [holder.slice(0, at), holder.slice(at + 1)];
  const [, pid, identity] = /^([1-9][0-9]*)\.([0-9a-f]+)$/.exec(who) ?? [];
  if (holder && host === deps.host && deps.identity && identity === deps.identity && pid && !deps.isAlive(Number(pid))) {
    deps.verbose(`the checker that held the lock (${printableName(holder)}) is gone; taking over`);
    // The store frees its claims on events with it: they are sent in this run, not a lease later.
    return (await deps.store.acquireLock(owner, now, leaseMs, holder)).acquired;
  }
  deps.verbose(`another medic check (${printableName(holder)}) is running; leaving this minute to it`);
  return false;
}

/** A lock owner read from the database, for a -v line: quoted and escaped if it is not plain. */
function printableName(text: string): string {
  return /^[\w.@:-]*$/.test(text) ? text : JSON.stringify(text);
}

/**
 * Checker-gap protection. When the previous run was longer ago than `checker.gapThreshold`,
 * Medic was blind in between: beats may have gone unrecorded (disk full, machine off). Services
 * whose deadline fell inside the blind period get a fresh interval × threshold + grace from now
 * instead of all paging at once; Medic says so once.
 */
async function closeGap(config: Config, records: Map<string, StoredService>, now: number, dryRun: boolean, deps: CheckDeps) {
  const lastRunAt = await deps.store.lastCheckAt();
  if (lastRunAt === null || now - lastRunAt <= config.checker.gapThresholdMs) return null;
  const affected = config.services
    .filter((spec) => {
      const rec = records.get(spec.slug);
      if (!rec || rec.incident) return false;
      // A reported failure is news, not a beat the blind checker may have lost: it still pages.
      const ev = evaluate(spec, effective(spec, rec, config, now), now);
      return ev.reason !== null && ev.reason !== 'failed' && ev.downAt! > lastRunAt && ev.downAt! <= now;
    })
    .map((s) => s.slug);
  // Nothing restarted: the blind period changed nothing worth a cron mail (-v still says it).
  (affected.length > 0 ? deps.notice : deps.verbose)(
    `medic check was not running from ${iso(lastRunAt)} to ${iso(now)} (${formatDuration(Math.round((now - lastRunAt) / 1000) * 1000)}); ` +
      `${affected.length} service${affected.length === 1 ? ' whose deadline fell in that blind period gets' : 's whose deadline fell in that blind period get'} a fresh deadline instead of paging`,
  );
  if (!dryRun) await deps.store.recordGap(affected, lastRunAt, now, `medic check was not running from ${iso(lastRunAt)} to ${iso(now)}; deadline restarted`);
  return { from: lastRunAt, to: now };
}

function effective(spec: ServiceSpec, rec: ServiceRecord, config: Config, now: number): ServiceRecord {
  return withUnmute(spec, rec, config.maintenance, now, config.localZone);
}

/** The state changes this run must make, with the events each one causes. */
export function evaluateAll(config: Config, records: Map<string, StoredService>, recentTriggers: Map<string, number>, now: number): TransitionInput[] {
  const changes: TransitionInput[] = [];
  for (const spec of config.services) {
    const stored = records.get(spec.slug);
    if (!stored) continue;
    const rec = effective(spec, stored, config, now);
    const muted = activeMute(spec, rec.pause, config.maintenance, now, config.localZone) !== null;
    const t = decide(spec, rec, now, { muted, recentTriggers: recentTriggers.get(spec.slug) ?? 0, flap: config.flap });
    if (t) changes.push(toInput(spec, stored, t, config));
  }
  for (const rec of records.values()) {
    if (rec.incident && !config.bySlug.has(rec.slug)) {
      changes.push({
        slug: rec.slug,
        version: rec.version,
        from: 'down',
        to: 'up',
        at: now,
        reason: 'removed from the config while its incident was open',
        beatSeq: rec.beatSeq,
        incidentId: rec.incidentId,
        events: 'resolve-sent-triggers',
      });
    }
  }
  return changes;
}

function toInput(spec: ServiceSpec, rec: StoredService, t: Transition, config: Config): TransitionInput {
  const base = { slug: spec.slug, version: rec.version, at: t.at, beatSeq: rec.beatSeq, incidentId: rec.incidentId };
  switch (t.kind) {
    case 'up':
      return {
        ...base,
        from: rec.incident?.heldSince != null ? 'flapping' : 'down',
        to: 'up',
        reason: rec.incident?.heldSince != null ? `stayed up for ${formatDuration(config.flap.windowMs)} after flapping` : `beat at ${iso(t.at)}`,
        events: 'resolve-sent-triggers',
      };
    case 'hold':
      return {
        ...base,
        from: 'down',
        to: 'flapping',
        reason: `beat at ${iso(t.at)}, but ${config.flap.maxTriggers}+ triggers within ${formatDuration(config.flap.windowMs)}: resolve held until it stays up that long`,
        events: 'resolve-sent-triggers',
      };
    case 'relapse':
      return { ...base, from: 'flapping', to: 'relapse', reason: 'down again while flapping; the open incident covers it', events: [] };
    case 'down': {
      // The facts only: the body is built from them and the config of the moment it is sent.
      const ev = t.evaluation;
      const failure = ev.reason === 'failed' ? (rec.failure ?? null) : null;
      const facts: TriggerFacts = {
        downAt: t.at,
        lastBeatAt: rec.lastBeatAt,
        missedHeartbeats: ev.missedHeartbeats,
        reason: ev.reason ?? 'missed',
        ...(failure && { exitCode: failure.exitCode ?? null, durationMs: failure.durationMs ?? null, message: failure.message ?? null, outputTail: failure.outputTail ?? null }),
      };
      const events: NewEvent[] = spec.targets.map((name) => ({ target: name, action: 'trigger', dedupKey: dedupKey(spec.slug), facts }));
      return { ...base, from: rec.lastBeatAt === null ? 'new' : 'up', to: 'down', reason: downReason(spec, rec, ev, t.at), events };
    }
  }
}

/** Why it went down, for history and -v: "failed: exit 3 at …", "stuck: started … and still running after maxRuntime 2h", or the missed deadline. */
export function downReason(spec: ServiceSpec, rec: ServiceRecord, ev: Evaluation, at: number): string {
  if (ev.reason === 'failed') {
    const f = rec.failure;
    const message = f?.message ? `: ${JSON.stringify(f.message.length > 200 ? `${f.message.slice(0, 200)}…` : f.message)}` : '';
    return `failed${f?.exitCode != null ? `: exit ${f.exitCode}` : ''} at ${iso(at)}${f?.durationMs != null ? ` after ${formatDuration(f.durationMs)}` : ''}${message}`;
  }
  if (ev.reason === 'stuck') return `stuck: started ${iso(ev.runningSince!)} and still running after maxRuntime ${formatDuration(spec.maxRuntimeMs!)}`;
  const from =
    ev.referenceAt === rec.lastBeatAt
      ? `the last beat (${iso(ev.referenceAt)})`
      : ev.referenceAt === rec.runStartedAt
        ? `the start of a run that never ended (${iso(ev.referenceAt)})`
        : rec.lastBeatAt === null && ev.referenceAt === rec.registeredAt
          ? `registration (${iso(rec.registeredAt)})`
          : `the restart of its clock (${iso(ev.referenceAt)})`;
  if (spec.schedule !== null) {
    const { expr, timezone } = spec.schedule;
    const runs = spec.threshold === 1 ? 'the next scheduled run' : `${spec.threshold} scheduled runs`;
    return `no beat for ${runs} (${JSON.stringify(expr)} in ${timezone}) + grace ${formatDuration(spec.graceMs)} after ${from}: due by ${iso(ev.deadlineAt)}`;
  }
  const budget = formatDuration((spec.intervalMs ?? 0) * spec.threshold + spec.graceMs);
  return `no beat within ${budget} of ${from}`;
}

/** `checker.heartbeatUrl`: tell an outside dead man's switch this run went well. Failure is reported, not fatal. */
async function pingWatcher(config: Config, deps: CheckDeps): Promise<void> {
  const { heartbeatUrl, heartbeatMethod, timeoutMs } = config.checker;
  const result = await deps.ping(heartbeatUrl!, heartbeatMethod, timeoutMs);
  if (result.ok) deps.verbose(`pinged the checker heartbeat (${heartbeatMethod} → HTTP ${result.status})`);
  else deps.notice(`could not ping checker.heartbeatUrl (${heartbeatMethod}): ${result.error}; the run itself succeeded`);
}

/**
 * Turns what could not be delivered into one error: 78 (a key or URL to fix before anything is
 * sent), 76 (PagerDuty refused; kept until the target changes), 75 (will retry). Classified by the
 * typed reason of each deferral, never by its text.
 */
export function undeliveredError(report: DeliveryReport, targets: Config['targets'] = new Map()): MedicError | null {
  const lines: string[] = [];
  const hints: string[] = [];
  const codes = new Set<number>();
  // Events waiting behind another count with the event they wait for.
  const held = new Map<Deferral, number>();
  let head: Deferral | undefined;
  for (const d of report.deferred) {
    if (d.reason.kind === 'waiting') {
      if (head) held.set(head, (held.get(head) ?? 0) + 1);
    } else {
      head = d;
      held.set(d, 1);
    }
  }
  const configProblems = new Map<string, { reason: Extract<DeferReason, { kind: 'missing-key' | 'bad-key' | 'bad-url' }>; events: number }>();
  let later = 0;
  const laterReasons = new Set<string>();
  for (const [d, events] of held) {
    const r = d.reason;
    switch (r.kind) {
      case 'missing-key':
      case 'bad-key':
      case 'bad-url': {
        const seen = configProblems.get(`${r.target}\u0000${r.message}`);
        configProblems.set(`${r.target}\u0000${r.message}`, { reason: r, events: (seen?.events ?? 0) + events });
        break;
      }
      case 'refused':
        lines.push(
          `${capitalized(RECEIVER[r.type])} refused the ${d.event.action} for ${d.event.slug} (target ${r.target}${r.status === null ? '' : `, HTTP ${r.status}`}): ${quoted(r.answer)}; ` +
            `${events === 1 ? 'it stays' : `it and ${events - 1} later event${events === 2 ? '' : 's'} stay`} queued until ${CURED_BY[r.type]} changes`,
        );
        hints.push(refusalAdvice(r, targets.get(r.target)));
        codes.add(EXIT.rejected);
        break;
      case 'retry':
      case 'budget':
        later += events;
        laterReasons.add(r.error);
        codes.add(EXIT.tempfail);
        break;
    }
  }
  for (const { reason: r, events } of configProblems.values()) {
    lines.push(`target ${r.target}: ${r.message}; ${events} event${events === 1 ? '' : 's'} for it stay${events === 1 ? 's' : ''} queued`);
    hints.push(r.hint);
    codes.add(EXIT.config);
  }
  if (later > 0) {
    lines.push(`${later} event${later === 1 ? '' : 's'} not yet delivered (${[...laterReasons].slice(0, 3).join('; ')}); the next check retries`);
  }
  const code = mostUrgent(codes);
  return code === undefined ? null : new MedicError(lines.join('\n'), code, [...new Set(hints)].join('\n') || undefined);
}

/** PagerDuty's words, quoted, with anything that is not plain text escaped (JSON string rules). */
function quoted(answer: string): string {
  return JSON.stringify(answer);
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
