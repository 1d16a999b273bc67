// Prometheus' text exposition format (version 0.0.4): the families Medic exposes and how they are
// written. Pure: `medic metrics` and `medic serve`'s /metrics build the input, this writes the text.

/** The content type of the text this module writes. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'gauge' | 'counter';

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

/** The four states an alert matches on: late and down as status shows them, paused for a pause or a maintenance window. */
export const METRIC_STATES = ['up', 'late', 'down', 'paused'] as const;
export type MetricState = (typeof METRIC_STATES)[number];

export interface ServiceMetrics {
  slug: string;
  team: string | null;
  priority: string;
  state: MetricState;
  /** Down or not, whatever mutes it: a paused service that stopped beating is down here. */
  down: boolean;
  paused: boolean;
  lastBeatAt: number | null;
  deadlineAt: number;
  missedHeartbeats: number;
  incidentOpen: boolean;
}

export interface StateMetrics {
  version: string;
  services: ServiceMetrics[];
  /** Pending events per configured target (refused ones included) and how many of them were refused. */
  targets: { name: string; pending: number; refused: number }[];
  lastCheckAt: number | null;
  /** How long the last check held the checker lock; null when unknown. */
  lastCheckDurationMs: number | null;
}

/** The families of Medic's state (what `medic metrics` prints). */
export function stateFamilies(m: StateMetrics): MetricFamily[] {
  const svc = (s: ServiceMetrics) => ({ slug: s.slug, team: s.team ?? '', priority: s.priority });
  const perService = (name: string, help: string, value: (s: ServiceMetrics) => number | null): MetricFamily => ({
    name,
    help,
    type: 'gauge',
    samples: m.services.flatMap((s) => {
      const v = value(s);
      return v === null ? [] : [{ labels: svc(s), value: v }];
    }),
  });
  const perTarget = (name: string, help: string, value: (t: StateMetrics['targets'][number]) => number): MetricFamily => ({
    name,
    help,
    type: 'gauge',
    samples: m.targets.map((t) => ({ labels: { target: t.name }, value: value(t) })),
  });
  const single = (name: string, help: string, value: number | null): MetricFamily => ({ name, help, type: 'gauge', samples: value === null ? [] : [{ labels: {}, value }] });
  return [
    { name: 'medic_build_info', help: 'Medic version that wrote these metrics (always 1).', type: 'gauge', samples: [{ labels: { version: m.version }, value: 1 }] },
    perService('medic_service_up', 'Whether the service is up or late (1) or down (0), paused or not.', (s) => (s.down ? 0 : 1)),
    {
      name: 'medic_service_state',
      help: 'The service state as alerts match it: 1 for its state (up, late, down or paused; paused also in a maintenance window), 0 for the others.',
      type: 'gauge',
      samples: m.services.flatMap((s) => METRIC_STATES.map((state) => ({ labels: { ...svc(s), state }, value: s.state === state ? 1 : 0 }))),
    },
    perService('medic_service_paused', 'Whether the service is paused or in a maintenance window (1) or not (0).', (s) => (s.paused ? 1 : 0)),
    perService('medic_service_last_beat_timestamp_seconds', 'When the service last beat, in seconds since the epoch (no sample before its first beat).', (s) =>
      s.lastBeatAt === null ? null : seconds(s.lastBeatAt),
    ),
    perService('medic_service_deadline_timestamp_seconds', 'When the service goes (or went) down if no beat comes, in seconds since the epoch.', (s) => seconds(s.deadlineAt)),
    perService('medic_service_missed_heartbeats', 'Heartbeats missed since the last beat (since registration when it never beat).', (s) => s.missedHeartbeats),
    perService('medic_service_incident_open', 'Whether the service has an open incident (1) or not (0).', (s) => (s.incidentOpen ? 1 : 0)),
    perTarget('medic_target_events_pending', 'Events waiting to be delivered to the target, refused ones included.', (t) => t.pending),
    perTarget('medic_target_events_refused', 'Pending events the target refused (kept until its key or URL changes).', (t) => t.refused),
    single('medic_last_check_timestamp_seconds', 'When the last medic check finished, in seconds since the epoch (no sample before the first).', m.lastCheckAt === null ? null : seconds(m.lastCheckAt)),
    single('medic_last_check_duration_seconds', 'How long the last medic check ran (held the checker lock), in seconds (no sample when unknown).', m.lastCheckDurationMs === null ? null : seconds(m.lastCheckDurationMs)),
  ];
}

/** The text of `families` in the exposition format: HELP and TYPE lines, then the samples, each family once. */
export function exposition(families: MetricFamily[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
      lines.push(`${f.name}${labels.length > 0 ? `{${labels.join(',')}}` : ''} ${formatValue(s.value)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

const NEEDS_ESCAPE = /[\\"\n]/;

/** A label value as the format wants it: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/** HELP text: backslash and line feed escaped. */
function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));
}

/** A sample value: Go's float syntax (NaN, +Inf, -Inf for the non-finite). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** Epoch milliseconds (or a duration in ms) as seconds: the base unit Prometheus wants. */
function seconds(ms: number): number {
  return ms / 1000;
}
