/** Domain values for pure unit tests of src/core: a 5m/1m service that last beat at T0. */
import type { ServiceSpec } from '../../src/core/service.js';
import type { ServiceRecord } from '../../src/core/state.js';

export const MIN = 60_000;
export const T0 = Date.parse('2026-11-26T12:00:00Z');

export function serviceSpec(over: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    slug: 'job',
    name: 'Job',
    team: 'platform',
    priority: 'P3',
    intervalMs: 5 * MIN,
    schedule: null,
    graceMs: 1 * MIN,
    threshold: 1,
    runbook: null,
    severity: null,
    targets: ['oncall'],
    maxRuntimeMs: null,
    outputTailBytes: 4096,
    ...over,
  };
}

/** Registered an hour before T0, last beat at T0, no pause, no incident. */
export function serviceRecord(over: Partial<ServiceRecord> = {}): ServiceRecord {
  return { slug: 'job', registeredAt: T0 - 60 * MIN, lastBeatAt: T0, beatSeq: 1, resetAt: null, pause: null, incident: null, ...over };
}
