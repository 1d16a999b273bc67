import type { Config } from '../config.js';
import { nearest } from '../core/suggest.js';
import { DataError } from '../errors.js';
import type { Store } from '../store/types.js';

export interface BeatDeps {
  config: Config;
  openStore: () => Store;
  now: () => number;
}

/** Records one heartbeat. Never touches the network; prints nothing on success. */
export async function beat(input: { slug: string }, deps: BeatDeps): Promise<void> {
  if (!deps.config.bySlug.has(input.slug)) throw unknownService(input.slug, deps.config);
  const store = deps.openStore();
  try {
    await store.recordBeat(input.slug, deps.now());
  } finally {
    store.close();
  }
}

/** "unknown service 'nightly-bakup' — did you mean 'nightly-backup'?" (exit 65). */
export function unknownService(slug: string, config: Config): DataError {
  const guess = nearest(slug, config.bySlug.keys());
  return new DataError(
    `unknown service '${slug}'${guess ? ` — did you mean '${guess}'?` : ''}`,
    guess ? undefined : `services are listed in ${config.file}; \`medic status\` shows them`,
  );
}
