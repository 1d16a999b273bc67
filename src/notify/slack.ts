// [targets] Slack: the message (Block Kit, mrkdwn escaped, within Slack's limits), an incoming
// webhook or the Web API with a bot token, and what Slack's answers mean.
// CONTRACT STUB: built by the slack branch of issue 11.
import type { SlackTarget } from '../config.js';
import type { Driver, Outcome, Poster } from './outbound.js';

/** Sends one outbox event to a Slack target (see Driver). */
export const sendSlack: Driver<SlackTarget> = async () => {
  throw new Error('Slack delivery is not built yet');
};

/** What to do about a refusal Slack gave (`answer`: its error code or text), one line or two. */
export function slackRefusalHint(status: number | null, answer: string, target: SlackTarget): string {
  void status;
  void answer;
  return `check targets.${target.name} in the config`;
}

/**
 * `medic test-alert`: a test message (its resolve with `resolve`), through the same
 * requests and answer rules as a real event; nothing is kept.
 */
export async function slackTest(input: { target: SlackTarget; secret: string; resolve: boolean; host: string; now: number }, post: Poster): Promise<Outcome> {
  void input;
  void post;
  throw new Error('Slack test alerts are not built yet');
}
