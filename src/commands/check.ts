import { hostname } from 'node:os';
import type { Config } from '../config.js';
import { formatDuration } from '../core/duration.js';
import { dedupKey, severityFor, type ServiceSpec } from '../core/service.js';
import { decide, type Transition } from '../core/state.js';
import { EXIT, MedicError } from '../errors.js';
import { deliverPending, type DeliveryReport } from '../notify/deliver.js';
import type { Sender } from '../notify/http.js';
import { keyRefOf } from '../notify/keys.js';
import { INVALID_KEY_STEPS, triggerBody } from '../notify/pagerduty.js';
import type { NewEvent, Store, StoredService, TransitionInput } from '../store/types.js';

export interface CheckDeps {
  config: Config;
  store: Store;
  send: Sender;
  env: NodeJS.ProcessEnv;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** -v lines (stdout). */
  verbose: (line: string) => void;
  /** Whether a process id on this host is alive (for taking over a dead checker's lock). */
  isAlive: (pid: number) => boolean;
}

export interface CheckOptions {
  dryRun: boolean;
  /** Delivery stops starting requests after this, so a run ends well within its minute. */
  budgetMs?: number;
}

export interface CheckResult {
  ran: boolean;
  transitions: { slug: string; to: 'down' | 'up'; at: number; reason: string }[];
  delivery: DeliveryReport | null;
}

const LOCK_LEASE_MS = 2 * 60_000;

/**
 * One checker run: take the lock, register new services, evaluate every service, record state
 * changes together with their events (outbox), deliver what is due, release the lock.
 * Throws a MedicError (exit 75/76/78) after the run when events could not be delivered.
 */
export async function check(opts: CheckOptions, deps: CheckDeps): Promise<CheckResult> {
  const { store, config } = deps;
  const owner = `${process.pid}@${hostname()}`;
  if (!opts.dryRun && !(await takeLock(owner, deps))) return { ran: false, transitions: [], delivery: null };
  let result: CheckResult;
  try {
    const now = deps.now();
    if (!opts.dryRun) await store.register(config.services.map((s) => s.slug).filter(Boolean), now);
    const records = new Map((await store.services()).map((r) => [r.slug, r]));
    const changes = evaluateAll(config, records, now);
    for (const c of changes) deps.verbose(`${opts.dryRun ? 'would mark' : 'marking'} ${c.slug} ${c.to}: ${c.reason}`);
    const applied = opts.dryRun ? new Set<string>() : new Set(await store.applyTransitions(changes, now));
    const transitions = changes.filter((c) => applied.has(c.slug)).map(({ slug, to, at, reason }) => ({ slug, to, at, reason }));
    const delivery = opts.dryRun
      ? null
      : await deliverPending(
          { store, send: deps.send, env: deps.env, now: deps.now, sleep: deps.sleep },
          {
            budgetMs: opts.budgetMs ?? 40_000,
            timeoutMs: 10_000,
            timeouts: new Map([...config.targets.values()].map((t) => [t.eventsUrl, t.timeoutMs])),
            concurrency: 8,
            onEvent: deps.verbose,
          },
        );
    result = { ran: true, transitions, delivery };
  } finally {
    if (!opts.dryRun) await store.releaseLock(owner, deps.now());
  }
  if (result.delivery) throwIfUndelivered(result.delivery);
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

/** The state changes this run must make, with the events each one causes. */
export function evaluateAll(config: Config, records: Map<string, StoredService>, now: number): TransitionInput[] {
  const changes: TransitionInput[] = [];
  for (const spec of config.services) {
    const rec = records.get(spec.slug);
    if (!rec) continue;
    const t = decide(spec, rec, now);
    if (t) changes.push(toInput(spec, rec, t, config));
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
  if (t.kind === 'up') {
    return {
      slug: spec.slug,
      version: rec.version,
      from: 'down',
      to: 'up',
      at: t.at,
      reason: `beat at ${new Date(t.at).toISOString()}`,
      beatSeq: rec.beatSeq,
      incidentId: rec.incidentId,
      events: 'resolve-sent-triggers',
    };
  }
  const events: NewEvent[] = spec.targets.map((name) => {
    const target = config.targets.get(name)!;
    return {
      target: name,
      eventsUrl: target.eventsUrl,
      keyRef: keyRefOf(target),
      action: 'trigger',
      dedupKey: dedupKey(spec.slug),
      body: triggerBody(spec, t.evaluation, rec.lastBeatAt, severityFor(spec, target.severity)),
    };
  });
  const budget = formatDuration(spec.intervalMs * spec.threshold + spec.graceMs);
  return {
    slug: spec.slug,
    version: rec.version,
    from: rec.lastBeatAt === null ? 'new' : 'up',
    to: 'down',
    at: t.at,
    reason:
      rec.lastBeatAt === null
        ? `no beat within ${budget} of ${rec.resetAt !== null && rec.resetAt > rec.registeredAt ? 'its reset' : 'registration'}`
        : `no beat within ${budget} of the last one (${new Date(rec.lastBeatAt).toISOString()})`,
    beatSeq: rec.beatSeq,
    incidentId: null,
    events,
  };
}

/** Turns what could not be delivered into one error: 78 (missing key), else 76 (rejected), else 75. */
function throwIfUndelivered(report: DeliveryReport): void {
  const lines: string[] = [];
  const hints: string[] = [];
  const codes = new Set<number>();
  const raise = (c: number) => codes.add(c);
  for (const [, why] of report.missingKeys) {
    lines.push(`routing key missing: ${why}; the events for it stay queued`);
    hints.push('set the variable where cron runs medic (a NAME=value line at the top of the crontab) or use "routingKeyFile"');
    raise(EXIT.config);
  }
  for (const r of report.rejected) {
    lines.push(`PagerDuty rejected the ${r.event.action} for ${r.event.slug} (target ${r.event.target}, HTTP ${r.status}): ${r.message}`);
    if (r.badKey) hints.push(`"Invalid Routing Key" fix: ${INVALID_KEY_STEPS.map((s, i) => `${i + 1}. ${s}`).join(' ')}`);
    raise(EXIT.rejected);
  }
  const waiting = report.deferred.filter((d) => !d.error.startsWith('routing key missing'));
  if (waiting.length > 0) {
    const reasons = [...new Set(waiting.map((d) => d.error))].slice(0, 3).join('; ');
    lines.push(`${waiting.length} event${waiting.length === 1 ? '' : 's'} not yet delivered (${reasons}); the next check retries`);
    raise(EXIT.tempfail);
  }
  const code = [EXIT.config, EXIT.rejected, EXIT.tempfail].find((c) => codes.has(c));
  if (code !== undefined) throw new MedicError(lines.join('\n'), code, [...new Set(hints)].join('\n') || undefined);
}
