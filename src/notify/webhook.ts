// [targets] Webhooks: a versioned JSON body, signed with HMAC-SHA256 over timestamp and body.
// CONTRACT STUB: built by the webhook branch of issue 11.
import type { WebhookTarget } from '../config.js';
import type { Driver, Outcome, Poster } from './outbound.js';

/** Sends one outbox event to a webhook target (see Driver). */
export const sendWebhook: Driver<WebhookTarget> = async () => {
  throw new Error('webhook delivery is not built yet');
};

/** What to do about a refusal the receiver gave (a 3xx or a 4xx other than 408/429). */
export function webhookRefusalHint(status: number | null, answer: string, target: WebhookTarget): string {
  void status;
  void answer;
  return `check targets.${target.name}.url and the receiver`;
}

/**
 * `medic test-alert`: a test event, signed like every event (its resolve with `resolve`), through the same
 * requests and answer rules as a real event; nothing is kept.
 */
export async function webhookTest(input: { target: WebhookTarget; secret: string; resolve: boolean; host: string; now: number }, post: Poster): Promise<Outcome> {
  void input;
  void post;
  throw new Error('webhook test alerts are not built yet');
}
