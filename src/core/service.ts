import type { Cron } from './cron.js';

export type Priority = 'P1' | 'P2' | 'P3' | 'P4';
export type Severity = 'critical' | 'error' | 'warning' | 'info';
export type SeverityMap = Partial<Record<Priority, Severity>>;

/** The guide's "Priority Mapping" table. */
export const DEFAULT_SEVERITY: Record<Priority, Severity> = {
  P1: 'critical',
  P2: 'error',
  P3: 'warning',
  P4: 'info',
};

/** A service as the config describes it, with defaults applied and durations in ms. */
export interface ServiceSpec {
  slug: string;
  name: string;
  team: string | null;
  priority: Priority;
  /** Expected every this long; null when the service has a `schedule` (exactly one of the two is set). */
  intervalMs: number | null;
  /** [jobs] Expected at the runs of a cron schedule, read in `timezone`; null when it has an `interval`. */
  schedule: Schedule | null;
  graceMs: number;
  threshold: number;
  runbook: string | null;
  /** A fixed severity, or a per-priority map that overrides the target's. */
  severity: Severity | SeverityMap | null;
  /** Names of the targets this service pages. Never empty after config validation. */
  targets: string[];
  /** [jobs] A run started and not ended within this long is down ("stuck"); null: no limit. */
  maxRuntimeMs: number | null;
  /** [jobs] How many bytes of a run's output are kept and sent (0-65536). */
  outputTailBytes: number;
}

/** [jobs] A service's cron schedule. */
export interface Schedule {
  /** As written in the config (`30 2 * * *`, `@daily`). */
  expr: string;
  cron: Cron;
  /** The IANA zone it is read in. */
  timezone: string;
  /** True when no "timezone" was given and the machine's zone is used (status says so). */
  machineZone?: boolean;
}

/**
 * Severity for one service on one target, most specific first: the service's own setting, then
 * the target's map, then `defaults.severity`, then the guide's table.
 */
export function severityFor(spec: ServiceSpec, targetMap: SeverityMap | null, defaultsMap: SeverityMap | null = null): Severity {
  if (typeof spec.severity === 'string') return spec.severity;
  return spec.severity?.[spec.priority] ?? targetMap?.[spec.priority] ?? defaultsMap?.[spec.priority] ?? DEFAULT_SEVERITY[spec.priority];
}

export function dedupKey(slug: string): string {
  return `medic-heartbeat-${slug}`;
}
