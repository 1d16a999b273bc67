import { readFileSync } from 'node:fs';
import type { Target } from '../config.js';
import type { KeyRef } from '../store/types.js';

export function keyRefOf(target: Target): KeyRef {
  return target.routingKeyFile ? `file:${target.routingKeyFile}` : `env:${target.routingKeyEnv}`;
}

/** Where a key comes from, in words for messages: `env PAGERDUTY_ROUTING_KEY`, `file /run/secrets/pd`. */
export function describeKeyRef(ref: KeyRef): string {
  return ref.startsWith('env:') ? `environment variable ${ref.slice(4)}` : `file ${ref.slice(5)}`;
}

/**
 * Reads a routing key at send time. Returns the key, or why there is none. The key is never
 * returned inside an error, logged or stored.
 */
export function readKey(ref: KeyRef, env: NodeJS.ProcessEnv): { key: string } | { missing: string } {
  if (ref.startsWith('env:')) {
    const key = env[ref.slice(4)]?.trim();
    return key ? { key } : { missing: `${describeKeyRef(ref)} is not set` };
  }
  try {
    const key = readFileSync(ref.slice(5), 'utf8').trim();
    return key ? { key } : { missing: `${describeKeyRef(ref)} is empty` };
  } catch (err) {
    return { missing: `cannot read ${describeKeyRef(ref)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
}
