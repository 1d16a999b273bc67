import type { OutboxEvent, Store } from '../store/types.js';
import type { Sender } from './http.js';
import { readKey } from './keys.js';
import { describeAnswer, mentionsRoutingKey, type PdAnswer } from './pagerduty.js';

export interface DeliveryDeps {
  store: Store;
  send: Sender;
  env: NodeJS.ProcessEnv;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Elapsed time for the run's budget and waits: monotonic, so a wall clock that steps never stretches a run. */
  monotonic?: () => number;
}

export interface DeliveryOptions {
  /** No request starts after this many ms; what is left waits for the next run. */
  budgetMs: number;
  /** Per-target request timeout, by events URL (falls back to timeoutMs). */
  timeoutMs: number;
  timeouts?: Map<string, number>;
  concurrency: number;
  onEvent?: (line: string) => void;
}

export interface Rejection {
  event: OutboxEvent;
  status: number;
  message: string;
  badKey: boolean;
}

export interface DeliveryReport {
  delivered: OutboxEvent[];
  rejected: Rejection[];
  skipped: OutboxEvent[];
  /** Still pending after this run, with the last reason. */
  deferred: { event: OutboxEvent; error: string }[];
  /** Sources of routing keys that were missing (never the keys). */
  missingKeys: Map<string, string>;
}

const MAX_IN_RUN_DELAY_MS = 8_000;

/** Delay before retry `attempt` (1-based) inside a run: 0.5s, 1s, 2s, … capped, with jitter. */
export function inRunBackoff(attempt: number): number {
  const base = Math.min(500 * 2 ** (attempt - 1), MAX_IN_RUN_DELAY_MS);
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

/** How long a key pauses after a 429 without Retry-After: about a second, jittered so workers spread out. */
function throttlePause(): number {
  return Math.round(1000 * (0.75 + Math.random() * 0.5));
}

const MAX_RETRY_DELAY_MS = 15 * 60_000;

/** When a later run should try again after `runs` failed runs: the next 3 runs, then 1, 2, 4… up to 15 min. */
export function nextRunDelay(runs: number): number {
  return runs <= 3 ? 0 : Math.min(60_000 * 2 ** (runs - 4), MAX_RETRY_DELAY_MS);
}

/**
 * Sends every pending outbox event. Per (service, target) events go strictly in order: an event
 * waits until the one before it is settled, so a resolve never overtakes its trigger. 429, 5xx,
 * timeouts and network errors are retried with backoff while the run's budget lasts, then left
 * pending for the next run; a 429 also holds back every other event for the same key and URL.
 */
export async function deliverPending(deps: DeliveryDeps, opts: DeliveryOptions): Promise<DeliveryReport> {
  const clock = deps.monotonic ?? (() => performance.now());
  const endAt = clock() + opts.budgetMs;
  const report: DeliveryReport = { delivered: [], rejected: [], skipped: [], deferred: [], missingKeys: new Map() };
  const groups = new Map<string, OutboxEvent[]>();
  for (const event of await deps.store.pendingEvents()) {
    const key = `${event.slug}\u0000${event.target}`;
    groups.set(key, [...(groups.get(key) ?? []), event]);
  }
  const throttledUntil = new Map<string, number>();

  const deliverGroup = async (events: OutboxEvent[]) => {
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const defer = (error: string) => {
        for (const rest of events.slice(i)) report.deferred.push({ event: rest, error: rest === event ? error : 'waiting for an earlier event of the same service and target' });
      };
      // A retry time further out than any backoff means the clock stepped back: try now.
      const waitMs = event.nextAttemptAt - deps.now();
      if (waitMs > 0 && waitMs <= MAX_RETRY_DELAY_MS) return defer(event.lastError ?? 'waiting for its retry time');
      if (event.action === 'resolve') {
        const trigger = await deps.store.triggerStatus(event.incidentId, event.target);
        if (trigger === 'rejected' || trigger === 'skipped') {
          await deps.store.settle(event.id, { status: 'skipped', error: `its trigger was ${trigger}, so there is no incident to resolve` }, deps.now());
          report.skipped.push(event);
          continue;
        }
      }
      const key = readKey(event.keyRef, deps.env);
      if ('missing' in key) {
        report.missingKeys.set(event.keyRef, key.missing);
        await deps.store.settle(event.id, { status: 'retry', error: `routing key missing: ${key.missing}`, nextAttemptAt: deps.now() }, deps.now());
        return defer(`routing key missing: ${key.missing}`);
      }
      const throttleKey = `${event.keyRef}\u0000${event.eventsUrl}`;
      let attempt = 0;
      for (;;) {
        const wait = Math.max(0, (throttledUntil.get(throttleKey) ?? 0) - clock());
        if (clock() + wait >= endAt) {
          const error = event.lastError ?? 'the run ran out of time before sending it';
          await deps.store.settle(event.id, { status: 'retry', error, nextAttemptAt: deps.now() }, deps.now());
          return defer(error);
        }
        if (wait > 0) await deps.sleep(wait);
        attempt++;
        // The full timeout, never cut to the budget left: a request cut short may well have been
        // accepted, and would be sent again. A run lasts at most the budget plus one timeout.
        const timeoutMs = opts.timeouts?.get(event.eventsUrl) ?? opts.timeoutMs;
        const result = await deps.send(event.eventsUrl, { routing_key: key.key, ...event.body }, timeoutMs);
        if (result.ok) {
          await deps.store.settle(event.id, { status: 'delivered', response: JSON.stringify(result.answer) }, deps.now());
          report.delivered.push(event);
          opts.onEvent?.(`${event.action} ${event.slug} → ${event.target}: delivered (HTTP ${result.status})`);
          break;
        }
        const said = result.answer ? describeAnswer(result.answer) : '';
        const error = `${result.error}${said ? ` — ${said}` : ''}`;
        if (result.permanent) {
          await deps.store.settle(event.id, { status: 'rejected', error, response: JSON.stringify(result.answer ?? {}) }, deps.now());
          report.rejected.push({ event, status: result.status ?? 0, message: said || result.error, badKey: isKeyProblem(result.answer) });
          opts.onEvent?.(`${event.action} ${event.slug} → ${event.target}: rejected (${error})`);
          break;
        }
        opts.onEvent?.(`${event.action} ${event.slug} → ${event.target}: ${error}; will retry`);
        // 429 throttles the key, not this event: every event for that key and URL pauses for
        // Retry-After or a fixed second (not this event's growing backoff, which would starve the key).
        const delay = result.retryAfterMs ?? (result.status === 429 ? throttlePause() : inRunBackoff(attempt));
        if (result.status === 429) throttledUntil.set(throttleKey, Math.max(throttledUntil.get(throttleKey) ?? 0, clock() + delay));
        if (clock() + delay >= endAt) {
          // `attempts` counts settled runs (one per run that gave up), not requests within a run.
          await deps.store.settle(event.id, { status: 'retry', error, nextAttemptAt: deps.now() + nextRunDelay(event.attempts + 1) }, deps.now());
          return defer(error);
        }
        event.lastError = error;
        await deps.store.noteAttempt(event.id, error, deps.now());
        if (result.status !== 429) await deps.sleep(delay);
      }
    }
  };

  const queue = [...groups.values()];
  const workers = Array.from({ length: Math.min(opts.concurrency, queue.length) }, async () => {
    for (let group = queue.shift(); group; group = queue.shift()) await deliverGroup(group);
  });
  await Promise.all(workers);
  return report;
}

function isKeyProblem(answer: PdAnswer | undefined): boolean {
  return answer !== undefined && mentionsRoutingKey(answer);
}
