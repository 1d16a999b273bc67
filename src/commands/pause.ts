import type { Config } from '../config.js';
import { formatDuration, iso, parseDuration } from '../core/duration.js';
import { DataError, UsageError } from '../errors.js';
import type { Store } from '../store/types.js';
import { unknownService } from './beat.js';

export interface Selection {
  slugs: string[];
  team?: string;
  all?: boolean;
}

/** The services a pause/resume names: slugs, a team, or --all. Unknown names are refused (65). */
export function select(sel: Selection, config: Config): string[] {
  if (!sel.all && !sel.team && sel.slugs.length === 0) {
    throw new UsageError('name the services to change', 'give slugs, --team <team> or --all');
  }
  if (sel.all) return config.services.map((s) => s.slug);
  for (const slug of sel.slugs) if (!config.bySlug.has(slug)) throw unknownService(slug, config);
  const picked = new Set(sel.slugs);
  if (sel.team) {
    const ofTeam = config.services.filter((s) => s.team === sel.team);
    if (ofTeam.length === 0) {
      const teams = [...new Set(config.services.map((s) => s.team).filter((t) => t !== null))];
      throw new DataError(`no service belongs to team '${sel.team}'`, teams.length > 0 ? `teams in the config: ${teams.join(', ')}` : undefined);
    }
    for (const s of ofTeam) picked.add(s.slug);
  }
  return [...picked];
}

export function listed(slugs: string[]): string {
  return slugs.length <= 10 ? slugs.join(', ') : `${slugs.slice(0, 10).join(', ')} and ${slugs.length - 10} more`;
}

/**
 * Mutes services: no trigger while paused; an open incident still resolves on recovery. A beat
 * does not end a pause (healthchecks #94); `--for` ends it by itself, else `medic resume` does.
 */
export async function pause(
  input: Selection & { for?: string; reason?: string },
  deps: { config: Config; store: Store; now: () => number },
): Promise<string> {
  const slugs = select(input, deps.config);
  let until: number | null = null;
  const now = deps.now();
  if (input.for !== undefined) {
    const ms = parseDuration(input.for);
    if (ms === null || ms <= 0) throw new DataError(`--for: expected a duration like "2h" or "30m", got "${input.for}"`);
    until = now + ms;
  }
  const record = `paused ${until === null ? 'until resumed' : `until ${iso(until)}`}${input.reason ? `: ${input.reason}` : ''}`;
  await deps.store.pause(slugs, now, until, input.reason ?? null, record);
  const when = until === null ? 'until `medic resume`' : `until ${iso(until)} (${formatDuration(until - now)})`;
  return `paused ${listed(slugs)} ${when}${input.reason ? `: ${input.reason}` : ''}`;
}
