/**
 * A rig for the trust-phase end-to-end tests: a temp project with a config pointing at a real
 * PagerDuty stand-in, and the real `bin/medic` run at chosen instants under libfaketime (frozen by
 * default, so every timestamp is exact).
 */
import { expect } from 'vitest';
import { ROUTING_KEY, tempProject, type CliOptions, type CliResult, type Project } from './cli.js';
import { clockEnv } from './clock.js';
import { startPdServer, type PdServer, type RecordedRequest } from './pd-server.js';

export const SEC = 1000;
export const MIN = 60 * SEC;
export const HOUR = 60 * MIN;
/** A Thursday in November (UTC+1 in Berlin, UTC−5 in New York). */
export const T0 = Date.parse('2026-11-26T12:00:00Z');
export const iso = (at: number) => new Date(at).toISOString();

export interface RunOptions extends Omit<CliOptions, 'at' | 'frozen' | 'speed'> {
  /** Let the clock run from the instant, this many times faster (default: frozen at the instant). */
  speed?: number;
}

export interface Rig {
  project: Project;
  pd: PdServer;
  /** Runs `medic ...args` at this instant (frozen clock) with the example routing key set. */
  medic(at: number, args: string[], opts?: RunOptions): Promise<CliResult>;
  /** As medic(), and the command must exit 0. */
  ok(at: number, args: string[], opts?: RunOptions): Promise<CliResult>;
  /** `medic status --json` at this instant, by slug. */
  status(at: number): Promise<Map<string, Record<string, any>>>;
  /** Requests the stand-in received, by event_action (and service slug, when given). */
  triggers(slug?: string): RecordedRequest[];
  resolves(slug?: string): RecordedRequest[];
  close(): Promise<void>;
}

/**
 * Builds the config: one target at the stand-in, defaults interval 5m / grace 1m, checks allowed
 * to be far apart and no flap damping unless the test's `extra` says otherwise.
 */
export async function startRig(services: Record<string, unknown>[], extra: Record<string, unknown> = {}): Promise<Rig> {
  const pd = await startPdServer();
  const project = tempProject({
    targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url } },
    defaults: { interval: '5m', grace: '1m', threshold: 1 },
    // A short delivery budget keeps checks that cannot deliver short.
    checker: { gapThreshold: '30d', deliveryBudget: '2s' },
    flap: { maxTriggers: 1000 },
    services,
    ...extra,
  });
  const medic = (at: number, args: string[], { speed, ...opts }: RunOptions = {}) =>
    project.run(args, { ...opts, env: { PAGERDUTY_ROUTING_KEY: ROUTING_KEY, ...clockEnv(at, speed === undefined ? { frozen: true } : { speed }), ...opts.env } });
  const of = (action: string, slug?: string) =>
    pd.requests.filter((r) => r.body?.event_action === action && (slug === undefined || r.body?.dedup_key === `medic-heartbeat-${slug}`));
  return {
    project,
    pd,
    medic,
    async ok(at, args, opts) {
      const r = await medic(at, args, opts);
      expect(r.code, `medic ${args.join(' ')} at ${iso(at)}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
      return r;
    },
    async status(at) {
      const r = await medic(at, ['status', '--json']);
      expect(r.code, r.stderr).toBe(0);
      return new Map((JSON.parse(r.stdout) as Record<string, any>[]).map((row) => [row.slug as string, row]));
    },
    triggers: (slug) => of('trigger', slug),
    resolves: (slug) => of('resolve', slug),
    async close() {
      await pd.close();
      project.remove();
    },
  };
}
