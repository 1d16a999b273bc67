import { existsSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, relative } from 'node:path';
import { UsageError } from '../errors.js';

export interface InitDeps {
  cwd: string;
  /** Absolute path of the medic executable, for the crontab line. */
  binPath: string;
  /** Absolute path of the node binary running it. */
  nodePath: string;
  /** The shipped medic.schema.json, for editor completion through "$schema". */
  schemaPath: string;
}

export interface InitResult {
  file: string;
  /** How to call medic from scripts: its absolute path. */
  bin: string;
  crontab: string;
}

/** The folders cron's default PATH has; node anywhere else must be named in the crontab line. */
const CRON_PATH = ['/usr/bin', '/bin'];

export function starterConfig(schemaRef: string): string {
  const config = {
    $schema: schemaRef,
    $comment: [
      'Medic config. Every key is described in README.md; medic.config.example.json shows them all.',
      'Durations: "90s", "5m", "1h30m", "2d" or a number of seconds. Priorities P1-P4 map to critical/error/warning/info.',
      'A service is down when no beat came for interval x threshold + grace. Routing keys never go in this file:',
      'the "oncall" target reads it from the environment variable PAGERDUTY_ROUTING_KEY (or use routingKeyFile).',
    ],
    database: 'medic.db',
    defaults: { interval: '5m', grace: '1m', threshold: 1, priority: 'P3' },
    targets: { oncall: { type: 'pagerduty', routingKeyEnv: 'PAGERDUTY_ROUTING_KEY' } },
    services: [{ slug: 'nightly-backup', name: 'Nightly Backup', team: 'platform', priority: 'P2', interval: '24h', grace: '30m' }],
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** Writes ./medic.config.json (refusing to overwrite without --force) and builds the crontab line. */
export function init(input: { force: boolean }, deps: InitDeps): InitResult {
  const file = join(deps.cwd, 'medic.config.json');
  if (existsSync(file) && !input.force) {
    throw new UsageError(`${file} already exists`, 'run `medic init --force` to overwrite it, or edit it');
  }
  let schemaRef = relative(deps.cwd, deps.schemaPath);
  if (!schemaRef.startsWith('.')) schemaRef = `./${schemaRef}`;
  writeFileSync(file, starterConfig(schemaRef), { mode: 0o644 });
  const nodeDir = dirname(deps.nodePath);
  const pathPrefix = CRON_PATH.includes(nodeDir) ? '' : `PATH=${nodeDir}${delimiter}/usr/bin${delimiter}/bin `;
  return { file, bin: deps.binPath, crontab: `* * * * * ${pathPrefix}${deps.binPath} --config ${file} check` };
}
