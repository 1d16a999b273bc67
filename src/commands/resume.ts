import type { Config } from '../config.js';
import { formatDuration } from '../core/duration.js';
import type { Store } from '../store/types.js';
import { listed, select, type Selection } from './pause.js';

/** Ends pauses. Each resumed service gets a full interval × threshold + grace from now. */
export async function resume(input: Selection, deps: { config: Config; store: Store; now: () => number }): Promise<string> {
  const slugs = select(input, deps.config);
  const resumed = await deps.store.resume(slugs, deps.now());
  if (resumed.length === 0) return `${listed(slugs)} ${slugs.length === 1 ? 'was' : 'were'} not paused`;
  const first = deps.config.bySlug.get(resumed[0]!)!;
  const window = formatDuration(first.intervalMs * first.threshold + first.graceMs);
  return `resumed ${listed(resumed)}; ${resumed.length === 1 ? `it has ${window}` : 'each has a full interval × threshold + grace'} before it can go down`;
}
