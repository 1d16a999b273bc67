/**
 * `[-c path] beat <slug> [-c path]` and nothing else: the shape cron lines and scripts use. Its
 * own module so that both cli.ts and the separately bundled quick path (bin/medic →
 * dist/quick-beat.cjs) recognise it without loading anything else.
 */
export function beatArgs(argv: string[]): { slug: string; config?: string } | null {
  let config: string | undefined;
  let slug: string | undefined;
  let sawBeat = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-c' || a === '--config') {
      config = argv[++i];
      if (config === undefined) return null;
    } else if (a.startsWith('--config=')) config = a.slice('--config='.length);
    else if (a.startsWith('-')) return null;
    else if (!sawBeat) {
      if (a !== 'beat') return null;
      sawBeat = true;
    } else if (slug === undefined) slug = a;
    else return null;
  }
  return sawBeat && slug !== undefined ? { slug, config } : null;
}
