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
  intervalMs: number;
  graceMs: number;
  threshold: number;
  runbook: string | null;
  /** A fixed severity, or a per-priority map that overrides the target's. */
  severity: Severity | SeverityMap | null;
  /** Names of the targets this service pages. Never empty after config validation. */
  targets: string[];
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
