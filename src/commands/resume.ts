import type { Config } from '../config.js';
import { formatDuration, iso } from '../core/duration.js';
import { deadlineAt } from '../core/state.js';
import type { Store } from '../store/types.js';
import { listed, select, type Selection } from './pause.js';

/**
 * Ends pauses. Each resumed service gets a full interval × threshold + grace from now (with a
 * schedule: until the threshold-th run from now + grace). Failures and run starts from before are
 * forgotten.
 */
export async function resume(input: Selection, deps: { config: Config; store: Store; now: () => number }): Promise<string> {
  const slugs = select(input, deps.config);
  const now = deps.now();
  const resumed = await deps.store.resume(slugs, now);
  if (resumed.length === 0) return `${listed(slugs)} ${slugs.length === 1 ? 'was' : 'were'} not paused`;
  const first = deps.config.bySlug.get(resumed[0]!)!;
  if (resumed.length > 1) return `resumed ${listed(resumed)}; each has a full interval × threshold + grace (or its next scheduled runs + grace) before it can go down`;
  if (first.intervalMs !== null) return `resumed ${listed(resumed)}; it has ${formatDuration(first.intervalMs * first.threshold + first.graceMs)} before it can go down`;
  return `resumed ${listed(resumed)}; it has until ${iso(deadlineAt(first, now))} (its next scheduled run${first.threshold === 1 ? '' : 's'} + grace) before it can go down`;
}
