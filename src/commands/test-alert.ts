import { hostname } from 'node:os';
import { checkUrl, type Config, type SlackTarget, type Target, type WebhookTarget } from '../config.js';
import { nearest } from '../core/suggest.js';
import { ConfigError, EXIT, MedicError, mostUrgent, urlForDisplay, UsageError } from '../errors.js';
import { RECEIVER, refusalAdvice, targetUrl, whereShown } from '../notify/deliver.js';
import { httpPoster, type Sender, type SendResult } from '../notify/http.js';
import { readTargetKey, secretNoun } from '../notify/keys.js';
import type { Outcome, Poster } from '../notify/outbound.js';
import { slackTest } from '../notify/slack.js';
import { webhookTest } from '../notify/webhook.js';
import { INVALID_KEY_HINT, boundedAnswer, describeAnswer, refusalHint, testAlertBody } from '../notify/pagerduty.js';
import { UNREACHABLE_HINT } from '../hints.js';

export interface TestAlertDeps {
  config: Config;
  send: Sender;
  env: NodeJS.ProcessEnv;
  /** The user running medic (process.getuid()), for the key file check; null or absent: not checked. */
  uid?: number | null;
  sleep: (ms: number) => Promise<void>;
  /** One line per target as soon as PagerDuty (Slack, the webhook receiver) answers. */
  report: (line: string) => void;
  /** [targets] Slack's and webhooks' requests; default httpPoster. */
  post?: Poster;
  /** [targets] The machine named in the test message; default os.hostname(). */
  host?: string;
}

const ATTEMPTS = 3;

/**
 * Sends the guide's test trigger (or its resolve) to one target, or to every target when none is
 * named, and reports PagerDuty's answer. Throws after trying them all if any failed.
 */
export async function testAlert(input: { resolve: boolean; target?: string }, deps: TestAlertDeps): Promise<void> {
  const targets = pickTargets(deps.config, input.target);
  const failures: MedicError[] = [];
  for (const target of targets) {
    try {
      await sendOne(target, input.resolve, deps);
    } catch (err) {
      if (!(err instanceof MedicError)) throw err;
      failures.push(err);
    }
  }
  if (failures.length === 1) throw failures[0]!;
  if (failures.length > 1) {
    const code = mostUrgent(failures.map((f) => f.exitCode)) ?? failures[0]!.exitCode;
    throw new MedicError(failures.map((f) => f.message).join('\n'), code, [...new Set(failures.map((f) => f.hint).filter(Boolean))].join('\n'));
  }
}

function pickTargets(config: Config, name: string | undefined): Target[] {
  if (name === undefined) return [...config.targets.values()];
  const target = config.targets.get(name);
  if (target) return [target];
  const guess = nearest(name, config.targets.keys());
  throw new UsageError(
    `unknown target '${name}'${guess ? ` — did you mean '${guess}'?` : ''}`,
    `targets in ${config.file}: ${[...config.targets.keys()].join(', ')}`,
  );
}

async function sendOne(target: Target, resolve: boolean, deps: TestAlertDeps): Promise<void> {
  const what = resolve ? 'test resolve' : 'test alert';
  const url = targetUrl(target);
  const urlProblem = url && checkUrl(url.value);
  if (url && urlProblem) throw new ConfigError(`target ${target.name}: ${url.key}: ${urlProblem}`, `fix targets.${target.name}.${url.key} in the config`);
  // The same checks as a check's delivery: a missing, malformed or unsafely stored secret is never sent.
  const key = readTargetKey(target, deps.env, deps.uid ?? null);
  if (!('key' in key)) {
    throw new ConfigError(
      `target ${target.name}: ${key.kind === 'missing' ? `${secretNoun(target)} missing: ` : ''}${key.message}`,
      key.hint,
    );
  }
  if (target.type !== 'pagerduty') return sendOther(target, key.key, resolve, deps);
  let result: SendResult | undefined;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    result = await deps.send(target.eventsUrl, { routing_key: key.key, ...testAlertBody(resolve) }, target.timeoutMs);
    if (result.ok || result.permanent) break;
    if (attempt < ATTEMPTS) await deps.sleep(result.retryAfterMs !== undefined ? Math.min(result.retryAfterMs, 5000) : 1000 * attempt);
  }
  if (result!.ok) {
    const a = result!.answer;
    deps.report(
      `${target.name}: ${what} sent — PagerDuty answered HTTP ${result!.status}: status "${a.status ?? ''}", message "${a.message ?? ''}", dedup key "${a.dedup_key ?? ''}"`,
    );
    return;
  }
  const failed = result as Extract<SendResult, { ok: false }>;
  const said = boundedAnswer(failed.answer ? describeAnswer(failed.answer) : '');
  if (failed.permanent) {
    throw new MedicError(
      `target ${target.name}: PagerDuty rejected the ${what} (HTTP ${failed.status}): ${said || failed.error}`,
      EXIT.rejected,
      // The test bodies are the guide's own: a 400 is about the key, not the content.
      failed.status === 400 ? INVALID_KEY_HINT : refusalHint(failed.status, said, target.eventsUrl).split('\n')[0],
    );
  }
  throw new MedicError(
    `target ${target.name}: could not deliver the ${what} to ${urlForDisplay(target.eventsUrl)} after ${ATTEMPTS} attempts: ${failed.error}${said ? ` — ${said}` : ''}`,
    EXIT.tempfail,
    failed.status === null
      ? UNREACHABLE_HINT
      : 'PagerDuty is throttling or failing; try again in a minute (status.pagerduty.com)',
  );
}

/**
 * [targets] A Slack test message or a signed test event to a webhook: sent as a check would send
 * it (the same driver, retried the same few times), and the receiver's answer printed.
 */
async function sendOther(target: SlackTarget | WebhookTarget, secret: string, resolve: boolean, deps: TestAlertDeps): Promise<void> {
  const what = resolve ? 'test resolve' : 'test alert';
  const receiver = RECEIVER[target.type];
  const post = deps.post ?? httpPoster(deps.env);
  let result: Outcome | undefined;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const input = { secret, resolve, host: deps.host ?? hostname(), now: Date.now() };
    result = target.type === 'slack' ? await slackTest({ ...input, target }, post) : await webhookTest({ ...input, target }, post);
    if (result.ok || result.permanent) break;
    if (attempt < ATTEMPTS) await deps.sleep(result.retryAfterMs !== undefined ? Math.min(result.retryAfterMs, 5000) : 1000 * attempt);
  }
  const said = boundedAnswer(result!.answer ? describeAnswer(result!.answer) : '');
  if (result!.ok) {
    deps.report(`${target.name}: ${what} sent — ${receiver} answered HTTP ${result!.status}${said ? `: ${said}` : ''}`);
    return;
  }
  const failed = result as Extract<SendResult, { ok: false }>;
  if (failed.permanent) {
    const refusal = { kind: 'refused' as const, target: target.name, type: target.type, where: whereShown(target), status: failed.status, answer: said || failed.error, fresh: true };
    throw new MedicError(`target ${target.name}: ${receiver} refused the ${what} (${failed.error}): ${said || failed.error}`, EXIT.rejected, refusalAdvice(refusal, target).split('\n')[0]);
  }
  throw new MedicError(
    `target ${target.name}: could not deliver the ${what} to ${whereShown(target)} after ${ATTEMPTS} attempts: ${failed.error}${said ? ` — ${said}` : ''}`,
    EXIT.tempfail,
    failed.status === null
      ? `check that this machine can reach ${whereShown(target)} (firewall, DNS, HTTPS_PROXY)`
      : failed.status >= 200 && failed.status < 300
        ? `something other than ${receiver} answers at ${whereShown(target)}: check the target's URL, and any proxy between this machine and ${receiver}`
        : `${receiver} is throttling or failing; try again in a minute`,
  );
}
