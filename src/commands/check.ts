import { hostname } from 'node:os';
import type { Config } from '../config.js';
import { formatDuration, iso } from '../core/duration.js';
import { activeMute, withUnmute } from '../core/mute.js';
import { dedupKey, severityFor, type ServiceSpec } from '../core/service.js';
import { decide, evaluate, type ServiceRecord, type Transition } from '../core/state.js';
import { EXIT, MedicError, mostUrgent } from '../errors.js';
import { deliverPending, type DeliveryReport } from '../notify/deliver.js';
import type { Pinger, Sender } from '../notify/http.js';
import { keyRefOf } from '../notify/keys.js';
import { INVALID_KEY_HINT, triggerBody } from '../notify/pagerduty.js';
import { missingKeyHint } from '../hints.js';
import { ingestSpool } from '../spool.js';
import type { ChangeKind, KeyRef, NewEvent, Store, StoredService, TransitionInput } from '../store/types.js';

export interface CheckDeps {
  config: Config;
  store: Store;
  send: Sender;
  ping: Pinger;
  env: NodeJS.ProcessEnv;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** -v lines (stdout). */
  verbose: (line: string) => void;
  /** Notices worth a cron mail even when the run succeeds (stderr). */
  notice: (line: string) => void;
  /** Whether a process id on this host is alive (for taking over a dead checker's lock). */
  isAlive: (pid: number) => boolean;
}

export interface CheckOptions {
  dryRun: boolean;
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

const LOCK_LEASE_MS = 2 * 60_000;
/** State changes and delivery records are kept this long (beats: `retention`). */
export const RECORD_RETENTION_MS = 400 * 86_400_000;

/**
 * One checker run: take the lock, register new services, close the books on a checker gap,
 * evaluate every service, record state changes together with their events (outbox), deliver what
 * is due, prune old beats, ping the watcher, release the lock.
 * What could not be delivered comes back as `undelivered`, the error (exit 75/76/78) the run ends with.
 */
export async function check(opts: CheckOptions, deps: CheckDeps): Promise<CheckResult> {
  const { store, config } = deps;
  const owner = `${process.pid}@${hostname()}`;
  if (!opts.dryRun && !(await takeLock(owner, deps))) return { ran: false, planned: [], transitions: [], delivery: null, gap: null, undelivered: null };
  let result: CheckResult;
  try {
    const now = deps.now();
    if (config.spool && !opts.dryRun) await ingestSpool(config.spool, { store, services: config.bySlug, now, retentionMs: config.retentionMs, uid: process.geteuid?.() ?? 0, verbose: deps.verbose, notice: deps.notice });
    let records = new Map((await store.services()).map((r) => [r.slug, r]));
    const unregistered = config.services.filter((s) => !records.has(s.slug)).map((s) => s.slug);
    if (unregistered.length > 0 && !opts.dryRun) {
      await store.register(unregistered, now);
      records = new Map((await store.services()).map((r) => [r.slug, r]));
    }
    // A beat stamped after now (the writer's clock ahead) counts as a beat now, once and for good:
    // judged from its stamp, a job that died would look up until that moment came.
    const ahead = [...records.values()].filter((r) => r.lastBeatAt !== null && r.lastBeatAt > now);
    for (const r of ahead) deps.verbose(`${r.slug}: its last beat is stamped ${iso(r.lastBeatAt!)}, after this check's clock; counted as a beat at ${iso(now)} (is the clock of the machine that sent it ahead?)`);
    if (ahead.length > 0 && !opts.dryRun) {
      await store.capFutureBeats(now);
      records = new Map((await store.services()).map((r) => [r.slug, r]));
    }
    const gap = await closeGap(config, records, now, opts.dryRun, deps);
    if (gap && !opts.dryRun) records = new Map((await store.services()).map((r) => [r.slug, r]));
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
          { store, send: deps.send, env: deps.env, now: deps.now, sleep: deps.sleep },
          {
            budgetMs: config.checker.deliveryBudgetMs,
            timeoutMs: 10_000,
            timeouts: new Map([...config.targets.values()].map((t) => [t.eventsUrl, t.timeoutMs])),
            concurrency: 8,
            onEvent: deps.verbose,
          },
        );
    if (!opts.dryRun) {
      const pruned = await store.prune(now - config.retentionMs, now - Math.max(RECORD_RETENTION_MS, config.retentionMs));
      if (pruned > 0) deps.verbose(`pruned ${pruned} old records`);
    }
    result = { ran: true, planned, transitions, delivery, gap, undelivered: delivery ? undeliveredError(delivery) : null };
  } finally {
    if (!opts.dryRun) await store.releaseLock(owner, deps.now());
  }
  if (!opts.dryRun && !result.undelivered && config.checker.heartbeatUrl) await pingWatcher(config, deps);
  return result;
}

async function takeLock(owner: string, deps: CheckDeps): Promise<boolean> {
  const first = await deps.store.acquireLock(owner, deps.now(), LOCK_LEASE_MS);
  if (first.acquired) return true;
  const [pid, host] = (first.holder ?? '').split('@');
  if (first.holder && host === hostname() && !deps.isAlive(Number(pid))) {
    deps.verbose(`the checker that held the lock (${first.holder}) is gone; taking over`);
    return (await deps.store.acquireLock(owner, deps.now(), LOCK_LEASE_MS, first.holder)).acquired;
  }
  deps.verbose(`another medic check (${first.holder}) is running; leaving this minute to it`);
  return false;
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
      const deadline = evaluate(spec, effective(spec, rec, config, now), now).deadlineAt;
      return deadline > lastRunAt && deadline <= now;
    })
    .map((s) => s.slug);
  deps.notice(
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
      const events: NewEvent[] = spec.targets.map((name) => {
        const target = config.targets.get(name)!;
        return {
          target: name,
          eventsUrl: target.eventsUrl,
          keyRef: keyRefOf(target),
          action: 'trigger',
          dedupKey: dedupKey(spec.slug),
          body: triggerBody(spec, t.evaluation, rec.lastBeatAt, severityFor(spec, target.severity, config.defaultSeverity)),
        };
      });
      const budget = formatDuration(spec.intervalMs * spec.threshold + spec.graceMs);
      const from = t.evaluation.referenceAt === rec.lastBeatAt ? `the last beat (${iso(t.evaluation.referenceAt)})` : rec.lastBeatAt === null && t.evaluation.referenceAt === rec.registeredAt ? `registration (${iso(rec.registeredAt)})` : `the restart of its clock (${iso(t.evaluation.referenceAt)})`;
      return { ...base, from: rec.lastBeatAt === null ? 'new' : 'up', to: 'down', reason: `no beat within ${budget} of ${from}`, events };
    }
  }
}

/** `checker.heartbeatUrl`: tell an outside dead man's switch this run went well. Failure is reported, not fatal. */
async function pingWatcher(config: Config, deps: CheckDeps): Promise<void> {
  const { heartbeatUrl, heartbeatMethod, timeoutMs } = config.checker;
  const result = await deps.ping(heartbeatUrl!, heartbeatMethod, timeoutMs);
  if (result.ok) deps.verbose(`pinged the checker heartbeat (${heartbeatMethod} → HTTP ${result.status})`);
  else deps.notice(`could not ping checker.heartbeatUrl (${heartbeatMethod}): ${result.error}; the run itself succeeded`);
}

/** Turns what could not be delivered into one error: 78 (missing key), else 76 (rejected), else 75. */
function undeliveredError(report: DeliveryReport): MedicError | null {
  const lines: string[] = [];
  const hints: string[] = [];
  const codes = new Set<number>();
  for (const [ref, why] of report.missingKeys) {
    lines.push(`routing key missing: ${why}; the events for it stay queued`);
    hints.push(missingKeyHint(ref as KeyRef));
    codes.add(EXIT.config);
  }
  for (const r of report.rejected) {
    lines.push(`PagerDuty rejected the ${r.event.action} for ${r.event.slug} (target ${r.event.target}, HTTP ${r.status}): ${r.message}`);
    if (r.badKey) hints.push(INVALID_KEY_HINT);
    codes.add(EXIT.rejected);
  }
  const waiting = report.deferred.filter((d) => !d.error.startsWith('routing key missing'));
  if (waiting.length > 0) {
    const reasons = [...new Set(waiting.map((d) => d.error))].slice(0, 3).join('; ');
    lines.push(`${waiting.length} event${waiting.length === 1 ? '' : 's'} not yet delivered (${reasons}); the next check retries`);
    codes.add(EXIT.tempfail);
  }
  const code = mostUrgent(codes);
  return code === undefined ? null : new MedicError(lines.join('\n'), code, [...new Set(hints)].join('\n') || undefined);
}
