import type { Config, Target } from '../config.js';
import { nearest } from '../core/suggest.js';
import { ConfigError, EXIT, MedicError, mostUrgent, UsageError } from '../errors.js';
import type { Sender, SendResult } from '../notify/http.js';
import { keyRefOf, readKey } from '../notify/keys.js';
import { INVALID_KEY_HINT, describeAnswer, mentionsRoutingKey, testAlertBody } from '../notify/pagerduty.js';
import { missingKeyHint, UNREACHABLE_HINT } from '../hints.js';

export interface TestAlertDeps {
  config: Config;
  send: Sender;
  env: NodeJS.ProcessEnv;
  sleep: (ms: number) => Promise<void>;
  /** One line per target as soon as PagerDuty answers. */
  report: (line: string) => void;
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
  const key = readKey(keyRefOf(target), deps.env);
  if ('missing' in key) {
    throw new ConfigError(
      `target ${target.name}: routing key missing: ${key.missing}`,
      missingKeyHint(keyRefOf(target)),
    );
  }
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
  const said = failed.answer ? describeAnswer(failed.answer) : '';
  if (failed.permanent) {
    const badKey = failed.answer !== undefined && mentionsRoutingKey(failed.answer);
    throw new MedicError(
      `target ${target.name}: PagerDuty rejected the ${what} (HTTP ${failed.status}): ${said || failed.error}`,
      EXIT.rejected,
      badKey || failed.status === 400
        ? INVALID_KEY_HINT
        : `check the target's eventsUrl (${target.eventsUrl})`,
    );
  }
  throw new MedicError(
    `target ${target.name}: could not deliver the ${what} to ${target.eventsUrl} after ${ATTEMPTS} attempts: ${failed.error}${said ? ` — ${said}` : ''}`,
    EXIT.tempfail,
    failed.status === null
      ? UNREACHABLE_HINT
      : 'PagerDuty is throttling or failing; try again in a minute (status.pagerduty.com)',
  );
}
