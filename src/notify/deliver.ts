import { hostname } from 'node:os';
import { checkUrl, type Config, type Target } from '../config.js';
import { severityFor } from '../core/service.js';
import type { OutboxEvent, Store, TriggerRecord } from '../store/types.js';
import { httpPoster, oneLine, type Sender } from './http.js';
import { readTargetKey, targetFingerprint } from './keys.js';
import type { Outcome, Poster } from './outbound.js';
import { boundedAnswer, checkedEvent, describeAnswer, eventBody, refusalHint, withoutKeysInDetails } from './pagerduty.js';
import { sendSlack, slackRefusalHint } from './slack.js';
import { sendWebhook, webhookRefusalHint } from './webhook.js';
import { isSlug } from '../core/slug.js';
import { keysInEnv, redactJobText, secretForms, urlForDisplay } from '../errors.js';

export interface DeliveryDeps {
  /** The current config: targets are found by name, bodies rebuilt from its services. */
  config: Pick<Config, 'targets' | 'bySlug' | 'defaultSeverity'>;
  store: Store;
  /** PagerDuty's events. */
  send: Sender;
  /** [targets] Slack's and webhooks' requests; default httpPoster with env's proxy settings. */
  post?: Poster;
  /** [targets] The machine named in Slack messages and webhook bodies; default os.hostname(). */
  host?: string;
  /** Every routing key this process can see (all targets'): hidden in what a job said before it is sent. */
  keysToHide?: string[];
  env: NodeJS.ProcessEnv;
  /** The user running medic, for the key file check (null: not checked). */
  uid: number | null;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Elapsed time for the run's budget and waits: monotonic, so a wall clock that steps never stretches a run. */
  monotonic: () => number;
  /** [0, 1): the jitter of backoffs. */
  random: () => number;
}

export interface DeliveryOptions {
  /** No request starts after this many ms; what is left waits for the next run. */
  budgetMs: number;
  concurrency: number;
  /** Requests per event per run at most, so that `Retry-After: 0` cannot make a tight loop. */
  maxAttempts?: number;
  /** Send refused events again even though their target did not change (`check --retry-refused`). */
  retryRefused?: boolean;
  /** Once aborted (the run hit its hard limit), nothing more is sent or settled. */
  signal?: AbortSignal;
  /**
   * [scale] Claim the events for this checker (until its lease runs out) instead of reading them
   * all: another checker never sends an event this one holds, nor this one an event another holds.
   */
  claim?: { owner: string; leaseMs: number };
  onEvent?: (line: string) => void;
}

/** Why an event is still pending after this run. Typed, so callers never match message text. */
export type DeferReason =
  /** The target's key is missing (78): not set, empty, unreadable. */
  | { kind: 'missing-key'; target: string; message: string; hint: string }
  /** The target's key or URL is wrong before anything is sent (78): wrong shape, unsafe key file, a URL the https/loopback rule refuses. */
  | { kind: 'bad-key' | 'bad-url'; target: string; message: string; hint: string }
  /**
   * The target refused it (76); kept until the target's URL or secret changes. `fresh`: refused in
   * this run. `where`: where it was sent, fit to print (a Slack webhook's URL is never shown).
   */
  | { kind: 'refused'; target: string; type: Target['type']; where: string; status: number | null; answer: string; fresh: boolean }
  /** Behind an earlier pending event of the same service and target. */
  | { kind: 'waiting' }
  /** 429, 5xx, timeouts, network errors (75), or its retry time has not come. */
  | { kind: 'retry'; error: string }
  /** The run's delivery budget ran out before it was sent (75). */
  | { kind: 'budget'; error: string };

export interface Deferral {
  event: OutboxEvent;
  reason: DeferReason;
}

export interface DeliveryReport {
  delivered: OutboxEvent[];
  /** Settled without being sent, never to be sent; `notice`: worth saying once (stderr). */
  skipped: { event: OutboxEvent; reason: string; notice: boolean }[];
  /** Still pending after this run, each with why. */
  deferred: Deferral[];
  /** [scale] Another checker took this one's claims (its lock was taken over): it stopped sending. */
  lostClaims?: true;
}

/** Events claimed at a time: one claim never outlasts its statement timeout, however many rows wait. */
export const CLAIM_BATCH = 1000;

export const MAX_ATTEMPTS_PER_RUN = 5;
const MAX_IN_RUN_DELAY_MS = 8_000;

/** Delay before retry `attempt` (1-based) inside a run: 0.5s, 1s, 2s, … capped, with jitter from `random` in [0, 1). */
export function inRunBackoff(attempt: number, random: () => number): number {
  const base = Math.min(500 * 2 ** (attempt - 1), MAX_IN_RUN_DELAY_MS);
  return Math.round(base * (0.75 + random() * 0.5));
}

/** How long a key pauses after a 429 without Retry-After: about a second, jittered so workers spread out. */
function throttlePause(random: () => number): number {
  return Math.round(1000 * (0.75 + random() * 0.5));
}

const MAX_RETRY_DELAY_MS = 15 * 60_000;

/** When a later run should try again after `runs` failed runs: the next 3 runs, then 1, 2, 4… up to 15 min. */
export function nextRunDelay(runs: number): number {
  return runs <= 3 ? 0 : Math.min(60_000 * 2 ** (runs - 4), MAX_RETRY_DELAY_MS);
}

/**
 * The URL a target's requests go to, with its config key, checked again at send time (the
 * https/loopback rule); null for a Slack incoming webhook, whose URL is its secret (checked when read).
 */
export function targetUrl(target: Target): { key: 'eventsUrl' | 'url' | 'apiUrl'; value: string } | null {
  if (target.type === 'pagerduty') return { key: 'eventsUrl', value: target.eventsUrl };
  if (target.type === 'webhook') return { key: 'url', value: target.url };
  return target.mode === 'token' ? { key: 'apiUrl', value: target.apiUrl } : null;
}

/** Where a target sends, fit to print: a Slack webhook's URL is its secret, and is never shown. */
export function whereShown(target: Target): string {
  if (target.type === 'pagerduty') return urlForDisplay(target.eventsUrl);
  if (target.type === 'webhook') return urlForDisplay(target.url);
  return target.mode === 'token' ? `Slack channel ${target.channel} (${urlForDisplay(target.apiUrl)})` : 'a Slack incoming webhook';
}

/** [targets] How often an event Slack or a webhook receiver refused is tried again though its target did not change. */
export const REFUSAL_RETRY_MS = 10 * 60_000;

/** Who refused an event, by target type, for messages. */
export const RECEIVER: Record<Target['type'], string> = { pagerduty: 'PagerDuty', slack: 'Slack', webhook: 'the webhook receiver' };
/** What must change for a refused event to be sent again, by target type. */
export const CURED_BY: Record<Target['type'], string> = {
  pagerduty: "the target's routing key or eventsUrl",
  slack: "the target's webhook URL, token or channel",
  webhook: "the target's url or signing secret",
};

/** What to do about a refusal: the type's own advice; a target gone from the config needs none. */
export function refusalAdvice(r: Extract<DeferReason, { kind: 'refused' }>, target: Target | undefined): string {
  if (target?.type === 'slack') return slackRefusalHint(r.status, r.answer, target);
  if (target?.type === 'webhook') return webhookRefusalHint(r.status, r.answer, target);
  return refusalHint(r.status, r.answer, r.where);
}

/** A control character (C0, DEL, C1): none can be in a name a config holds. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Sends every pending outbox event. Per (service, target) events go strictly in order: an event
 * waits until the one before it is settled, so a resolve never overtakes its trigger.
 *
 * Nothing about where or what to send is taken from the database (SPEC §5): the target comes by
 * name from the current config (its URL checked again, its key read now and checked), the body is
 * rebuilt from the event's facts. An event for a target no longer configured, or one Medic could
 * not have written, is settled unsent and said once. A missing or malformed key keeps it queued.
 *
 * 429, 5xx, timeouts and network errors are retried with backoff while the run's budget lasts (at
 * most `maxAttempts` requests per event), then left pending for the next run; a 429 also holds back
 * every other event for the same URL and key. A refusal (3xx, other 4xx) keeps the event pending,
 * marked with PagerDuty's answer and a fingerprint of the URL and key: it is not sent again until
 * they change, or `retryRefused`.
 */
export async function deliverPending(deps: DeliveryDeps, opts: DeliveryOptions): Promise<DeliveryReport> {
  const clock = deps.monotonic;
  const post = deps.post ?? httpPoster(deps.env);
  const host = oneLine(deps.host ?? hostname()).replace(/[^\x20-\x7e]/g, '?').slice(0, 253);
  const endAt = clock() + opts.budgetMs;
  const maxAttempts = opts.maxAttempts ?? MAX_ATTEMPTS_PER_RUN;
  const report: DeliveryReport = { delivered: [], skipped: [], deferred: [] };
  const throttledUntil = new Map<string, number>();
  let lost = false;
  const stopped = () => opts.signal?.aborted === true || lost;
  /** A name from the database, as a message may show it: quoted and escaped if it holds control characters. */
  const name = (text: string) => (CONTROL.test(text) ? JSON.stringify(text) : text);
  const say = (event: OutboxEvent, what: string) => opts.onEvent?.(`${event.action} ${name(event.slug)} → ${name(event.target)}: ${what}`);

  const deliverGroup = async (events: OutboxEvent[]) => {
    for (let i = 0; i < events.length; i++) {
      // The store answers synchronously: yield, so the run's hard limit (a timer) can fire however
      // many rows the outbox holds.
      await new Promise((resolve) => setImmediate(resolve));
      if (stopped()) return;
      const event = events[i]!;
      const defer = (reason: DeferReason) => {
        report.deferred.push({ event, reason });
        for (const rest of events.slice(i + 1)) report.deferred.push({ event: rest, reason: { kind: 'waiting' } });
      };
      const skip = async (reason: string, notice: boolean) => {
        await deps.store.settle(event.id, { status: 'skipped', error: reason }, deps.now());
        report.skipped.push({ event, reason, notice });
        say(event, `not sent: ${reason}`);
      };
      // Names from the database go into messages: a row whose slug or target could not have come
      // from a config (a forged one, with a line break to fake a line of cron mail) goes no further.
      if (!isSlug(event.slug) || CONTROL.test(event.target)) {
        await skip(`an outbox row for ${JSON.stringify(event.slug)} → ${JSON.stringify(event.target)} is not one Medic wrote, and was not sent`, true);
        continue;
      }
      // A retry time further out than any backoff means the clock stepped back: try now.
      const waitMs = event.nextAttemptAt - deps.now();
      if (waitMs > 0 && waitMs <= MAX_RETRY_DELAY_MS && !event.refusal) return defer({ kind: 'retry', error: event.lastError ?? 'waiting for its retry time' });
      let trigger: TriggerRecord | null = null;
      if (event.action === 'resolve') {
        trigger = await deps.store.triggerOf(event.slug, event.incidentId, event.target);
        if (trigger?.status === 'rejected' || trigger?.status === 'skipped') {
          await skip(`its trigger was ${trigger.status === 'rejected' ? 'rejected' : 'not sent'}, so there is no incident to resolve`, false);
          continue;
        }
      }
      const target = deps.config.targets.get(event.target);
      const spec = deps.config.bySlug.get(event.slug);
      if (event.action === 'trigger' && spec && !spec.targets.includes(event.target)) {
        // A trigger goes only to a target the service pages now. One whose target was removed or
        // renamed, or taken off the service, while the page waited goes to where the service pages
        // now (a fix to the config must not cost the page), unless the outage is already over; and
        // a row naming another team's target (the database is not trusted) never reaches it.
        const over = events.slice(i + 1).some((e) => e.action === 'resolve' && e.incidentId === event.incidentId);
        const to = over ? [] : spec.targets.filter((t) => deps.config.targets.has(t));
        const why = target ? `target "${event.target}" is not one of ${event.slug}'s targets` : `target "${event.target}" is no longer in the config`;
        if (to.length === 0) {
          await skip(`${why}: the trigger for ${event.slug} was not sent there, and the outage is already over`, true);
          continue;
        }
        const reason = `${why}: the trigger for ${event.slug} goes to ${to.join(', ')} instead`;
        const queued = await deps.store.reroute(event.id, to, reason, deps.now());
        report.skipped.push({ event, reason: queued > 0 ? reason : `${why}: not sent there; ${event.slug}'s own targets (${to.join(', ')}) already have this incident`, notice: true });
        say(event, reason);
        if (queued === 0) continue;
        return defer({ kind: 'retry', error: `the trigger for ${event.slug} was moved to ${to.join(', ')} and goes out at the next check` });
      }
      if (!target) {
        const by = event.action === 'resolve' ? `resolve it by hand (dedup key ${event.dedupKey})` : `nobody was paged there for it (dedup key ${event.dedupKey})`;
        await skip(`target "${event.target}" is no longer in the config: the ${event.action} for ${event.slug} was not sent; ${by}`, true);
        continue;
      }
      const checked = checkedEvent(event, deps.config);
      if ('problem' in checked) {
        await skip(`the ${event.action} for ${event.slug} (target ${event.target}) was not sent: ${checked.problem}`, true);
        continue;
      }
      const url = targetUrl(target);
      const urlProblem = url && checkUrl(url.value);
      if (url && urlProblem) {
        return defer({ kind: 'bad-url', target: target.name, message: `${url.key}: ${urlProblem}`, hint: `fix targets.${target.name}.${url.key} in the config` });
      }
      const key = readTargetKey(target, deps.env, deps.uid);
      if (!('key' in key)) {
        await deps.store.settle(event.id, { status: 'retry', error: key.message, nextAttemptAt: deps.now() }, deps.now());
        return defer({ kind: key.kind === 'missing' ? 'missing-key' : 'bad-key', target: target.name, message: key.message, hint: key.hint });
      }
      // What a refusal is kept for: where it goes and with what secret (a Slack webhook's URL is both).
      const fingerprint = targetFingerprint(target.type === 'slack' ? `${target.mode}\n${target.apiUrl}\n${target.channel ?? ''}` : url!.value, key.key);
      const refused = (status: number | null, answer: string, fresh: boolean): DeferReason => ({ kind: 'refused', target: target.name, type: target.type, where: whereShown(target), status, answer, fresh });
      // A Slack or webhook refusal is often cured where Medic cannot see it (the bot invited to the
      // channel, the receiver fixed): it is also tried again every REFUSAL_RETRY_MS.
      const due = event.refusal !== null && target.type !== 'pagerduty' && deps.now() - event.refusal.at >= REFUSAL_RETRY_MS;
      if (event.refusal && event.refusal.fingerprint === fingerprint && !opts.retryRefused && !due) {
        return defer(refused(event.refusal.status, event.refusal.answer, false));
      }
      const hide = [...secretForms(key.key), ...keysInEnv(deps.env), ...(deps.keysToHide ?? [])];
      let sendOnce: () => Promise<Outcome>;
      if (target.type === 'pagerduty') {
        const built = eventBody(event, target, deps.config);
        if ('problem' in built) throw new Error(built.problem); // checkedEvent said it builds
        const body = withoutKeysInDetails(built.body, hide);
        sendOnce = () => deps.send(target.eventsUrl, { routing_key: key.key, ...body }, target.timeoutMs);
      } else {
        const spec = deps.config.bySlug.get(event.slug) ?? null;
        const base = {
          secret: key.key,
          eventId: event.id,
          action: event.action,
          slug: event.slug,
          dedupKey: event.dedupKey,
          incidentId: event.incidentId,
          spec,
          facts: checked.action === 'trigger' ? redactJobText(checked.facts, hide) : null,
          severity: spec ? severityFor(spec, target.severity, deps.config.defaultSeverity) : ('info' as const),
          openedAt: checked.action === 'trigger' ? checked.facts.downAt : (trigger?.downAt ?? null),
          queuedAt: event.createdAt,
          host,
          receipt: trigger?.receipt ?? null,
        };
        sendOnce = target.type === 'slack' ? () => sendSlack({ ...base, target, now: deps.now() }, post) : () => sendWebhook({ ...base, target, now: deps.now() }, post);
      }
      const result = await sendWithRetries(event, target.type, fingerprint, sendOnce);
      if (result === 'delivered') continue;
      if (result === 'stopped') return;
      return defer(result.kind === 'refused' ? refused(result.status, result.answer, true) : result);
    }
  };

  type Result = 'delivered' | 'stopped' | { kind: 'refused'; status: number | null; answer: string } | { kind: 'retry' | 'budget'; error: string };

  const sendWithRetries = async (event: OutboxEvent, type: Target['type'], fingerprint: string, sendOnce: () => Promise<Outcome>): Promise<Result> => {
    const throttleKey = fingerprint;
    for (let attempt = 1; ; attempt++) {
      const wait = Math.max(0, (throttledUntil.get(throttleKey) ?? 0) - clock());
      if (clock() + wait >= endAt) {
        const error = event.lastError ?? 'the run ran out of time before sending it';
        await deps.store.settle(event.id, { status: 'retry', error, nextAttemptAt: deps.now() }, deps.now());
        return { kind: 'budget', error };
      }
      if (wait > 0) await deps.sleep(wait);
      if (stopped()) return 'stopped';
      // A checker that took over this one's lock (it judged this one gone) sends these events now:
      // once this one no longer holds its claim, it sends nothing more.
      if (opts.claim && !(await deps.store.holdsClaim(event.id, opts.claim.owner, deps.now()))) {
        lost = true;
        report.lostClaims = true;
        say(event, 'not sent: this checker no longer holds its claim on it (another checker took over its lock)');
        return 'stopped';
      }
      // The full timeout, never cut to the budget left: a request cut short may well have been
      // accepted, and would be sent again. A run lasts at most the budget plus one timeout.
      const result = await sendOnce();
      if (stopped()) return 'stopped';
      if (result.ok) {
        await deps.store.settle(event.id, { status: 'delivered', response: JSON.stringify(result.answer), receipt: result.receipt ?? null }, deps.now());
        report.delivered.push(event);
        say(event, `delivered (HTTP ${result.status})`);
        return 'delivered';
      }
      const said = boundedAnswer(result.answer ? describeAnswer(result.answer) : '');
      const error = `${result.error}${said ? ` — ${said}` : ''}`;
      if (result.permanent) {
        const answer = said || result.error;
        await deps.store.settle(event.id, { status: 'refused', error, httpStatus: result.status, answer, fingerprint }, deps.now());
        say(event, `refused (${error}); kept until ${CURED_BY[type]} changes${type === 'pagerduty' ? '' : ', tried again every 10 minutes'}`);
        return { kind: 'refused', status: result.status, answer };
      }
      say(event, `${error}; will retry`);
      // 429 throttles the key, not this event: every event for that key and URL pauses for
      // Retry-After or a fixed second (not this event's growing backoff, which would starve the key).
      const delay = result.retryAfterMs ?? (result.status === 429 ? throttlePause(deps.random) : inRunBackoff(attempt, deps.random));
      if (result.status === 429) throttledUntil.set(throttleKey, Math.max(throttledUntil.get(throttleKey) ?? 0, clock() + delay));
      if (attempt >= maxAttempts || clock() + delay >= endAt) {
        // `attempts` counts settled runs (one per run that gave up), not requests within a run.
        await deps.store.settle(event.id, { status: 'retry', error, nextAttemptAt: deps.now() + nextRunDelay(event.attempts + 1) }, deps.now());
        return { kind: 'retry', error };
      }
      event.lastError = error;
      await deps.store.noteAttempt(event.id, error, deps.now());
      if (result.status !== 429) await deps.sleep(delay);
    }
  };

  const groupKey = (event: OutboxEvent) => `${event.slug}\u0000${event.target}`;
  /** Services and targets with an event left pending by an earlier batch: their later events wait behind it. */
  const blocked = new Set<string>();
  const deliverAll = async (events: OutboxEvent[]) => {
    const groups = new Map<string, OutboxEvent[]>();
    for (const event of events) {
      const key = groupKey(event);
      if (blocked.has(key)) {
        report.deferred.push({ event, reason: { kind: 'waiting' } });
        continue;
      }
      const group = groups.get(key);
      if (group) group.push(event);
      else groups.set(key, [event]);
    }
    const deferredBefore = report.deferred.length;
    const queue = [...groups.values()];
    const workers = Array.from({ length: Math.min(opts.concurrency, queue.length) }, async () => {
      for (let group = queue.shift(); group; group = queue.shift()) await deliverGroup(group);
    });
    await Promise.all(workers);
    for (const d of report.deferred.slice(deferredBefore)) blocked.add(groupKey(d.event));
  };

  if (!opts.claim) {
    await deliverAll(await deps.store.pendingEvents());
    return report;
  }
  // Claimed in batches, while the budget lasts: the configured services' events first, so that
  // rows of services no longer configured (or planted ones, by the hundred thousand) cannot keep
  // them waiting; what is left waits for the next run. The claims end with the lock's lease.
  const { owner } = opts.claim;
  const claimUntil = deps.now() + opts.claim.leaseMs;
  const slugs = [...deps.config.bySlug.keys()];
  for (const only of [true, false]) {
    for (let afterId = 0; !stopped() && clock() < endAt; ) {
      const batch = await deps.store.claimEvents(owner, deps.now(), Math.max(1, claimUntil - deps.now()), { afterId, limit: CLAIM_BATCH, services: { only, slugs } });
      if (batch.length === 0) break;
      afterId = batch[batch.length - 1]!.id;
      await deliverAll(batch);
      if (batch.length < CLAIM_BATCH) break;
    }
  }
  return report;
}
