/**
 * What `--help` shows besides commander's own lists, and what the man page (src/commands/man.ts)
 * reads: the examples of every command, the exit codes, the environment and the files. One table
 * each, so the help and `medic.1` cannot disagree.
 */

/** One example: a line to paste into a shell (or, with `crontab`, into `crontab -e`), and what it does. */
export interface Example {
  line: string;
  says: string;
  crontab?: boolean;
}

/** Examples by command name; `medic` is the program's own help. Lines are shell lines, ready to paste. */
export const EXAMPLES: Readonly<Record<string, readonly Example[]>> = {
  medic: [
    { says: 'write a starter medic.config.json here and print the crontab lines', line: 'medic init' },
    { says: 'the last step of a job: record a heartbeat', line: '/usr/local/bin/backup.sh && medic beat nightly-backup' },
    { says: 'what cron runs every minute', line: 'medic check' },
    { says: 'every service at a glance', line: 'medic status' },
  ],
  init: [
    { says: 'a starter medic.config.json in the current folder', line: 'medic init' },
    { says: 'the config where root\'s checker will read it', line: 'medic init --config /etc/medic/medic.config.json' },
    { says: 'systemd units for this install, printed instead of written', line: 'medic init --systemd --print' },
  ],
  beat: [
    { says: 'one heartbeat, at the end of the job', line: 'medic beat nightly-backup' },
    { says: 'the job failed: the service is down at the next check', line: "medic beat nightly-backup --fail -m 'disk full'" },
    { says: 'to medic serve on another host (no config needed here)', line: 'medic beat nightly-backup --url "https://medic.lan/ping/$MEDIC_PING_KEY"' },
  ],
  run: [
    { says: 'start, then success or failure with the exit code and output', line: 'medic run nightly-backup -- /usr/local/bin/backup.sh' },
    { says: 'stopped after two hours and recorded as a failure (exit 124)', line: 'medic run nightly-backup --timeout 2h -- /usr/local/bin/backup.sh' },
    { says: 'a shell pipeline (pipefail: a failing backup.sh fails the run, not only gzip)', line: "medic run nightly-backup -- bash -o pipefail -c 'backup.sh | gzip > db.gz'" },
  ],
  check: [
    { says: 'what would change, without writing or sending anything', line: 'medic check --dry-run' },
    { says: "in crontab -e: every minute, silent unless something needs saying (medic's absolute path if cron's PATH lacks it: medic init prints the exact line)", line: '* * * * * medic --config /etc/medic/medic.config.json check', crontab: true },
  ],
  serve: [
    { says: 'take beats over HTTP, one line per request', line: 'medic serve -v' },
    { says: 'a beat from another host (the ping key in $MEDIC_PING_KEY)', line: 'curl -fsS "http://127.0.0.1:8080/ping/$MEDIC_PING_KEY/nightly-backup"' },
  ],
  status: [
    { says: 'every service', line: 'medic status' },
    { says: 'one service, for scripts', line: 'medic status nightly-backup --json' },
    { says: 'a live view during an incident', line: 'medic status --watch --interval 5s' },
  ],
  metrics: [
    { says: "the Prometheus text on stdout", line: 'medic metrics' },
    { says: "for node_exporter's textfile collector; in a crontab line, medic's absolute path and --config as on the check line medic init printed (docs/metrics.md)", line: 'medic metrics --textfile /var/lib/prometheus/node-exporter/medic.prom' },
  ],
  pause: [
    { says: 'mute one service for two hours', line: "medic pause nightly-backup --for 2h --reason 'disk swap'" },
    { says: 'mute a whole team until medic resume', line: 'medic pause --team platform' },
  ],
  resume: [
    { says: 'end one pause', line: 'medic resume nightly-backup' },
    { says: 'end every pause', line: 'medic resume --all' },
  ],
  history: [
    { says: 'the last week of one service', line: 'medic history nightly-backup' },
    { says: 'the last twelve hours, for scripts', line: 'medic history nightly-backup --since 12h --json' },
  ],
  replay: [
    { says: 'what the current config would have paged this week', line: 'medic replay nightly-backup --since 7d' },
    { says: 'the same for an edited copy of the config, every service', line: 'medic replay --all --with medic.config.new.json' },
  ],
  migrate: [
    { says: 'move the SQLite database to PostgreSQL', line: 'medic migrate --to postgres://medic@db.internal:5432/medic' },
  ],
  doctor: [
    { says: 'what is wrong, and how to fix it', line: 'medic doctor' },
    { says: 'also page each target with the guide\'s test event, and resolve it', line: 'medic doctor --send-test' },
  ],
  discover: [
    { says: 'the crontab\'s jobs with a proposed service for each', line: 'medic discover' },
    { says: 'add them to the config and wrap their lines in medic run', line: 'medic discover --apply' },
  ],
  'test-alert': [
    { says: 'a test event to every target', line: 'medic test-alert' },
    { says: 'resolve the test alert of one target', line: 'medic test-alert --target oncall --resolve' },
  ],
  completion: [
    { says: 'bash, for this user', line: 'medic completion bash > ~/.local/share/bash-completion/completions/medic' },
    { says: 'fish', line: 'medic completion fish > ~/.config/fish/completions/medic.fish' },
  ],
};

/** SPEC §6, in the words of the README's table. */
export const EXIT_STATUS: readonly (readonly [number, string])[] = [
  [0, 'ok (also: another medic check is running, so this one left the minute to it)'],
  [64, 'usage: no command, unknown command or option, missing argument'],
  [65, 'bad data: an unknown service slug, a bad value (a --for or --since that is not a duration)'],
  [70, 'internal error: a bug; the message asks you to report it'],
  [74, 'the database cannot be opened or written, or is refused (a link, another user\'s file)'],
  [75, 'events not yet delivered, a later check retries; also a check that hit its hard limit'],
  [76, 'a target (PagerDuty, Slack, a webhook) refused an event: it stays queued until the target\'s secret or URL changes, or medic check --retry-refused'],
  [78, 'configuration missing or invalid, including an unset or malformed routing key, webhook URL, token or signing secret'],
];

/** The environment variables Medic reads. */
export const ENVIRONMENT: readonly (readonly [string, string])[] = [
  ['MEDIC_CONFIG', 'the config file, when --config is not given'],
  ['MEDIC_DB', 'the database (a file, or a postgres:// URL), instead of the config\'s "database"'],
  ['PAGERDUTY_ROUTING_KEY', 'the routing key of the starter config\'s "oncall" target (any target names its own variable with routingKeyEnv, or a file with routingKeyFile)'],
  ['MEDIC_URL', 'beat and run send to medic serve at this ping URL instead of recording here'],
  ['MEDIC_URL_TIMEOUT', 'how long a beat sent to MEDIC_URL may take (default 10s)'],
  ['MEDIC_PING_KEY', 'the ping key of medic serve (or the config\'s serve.pingKeyEnv / serve.pingKeyFile)'],
  ['MEDIC_VIEW_KEY', 'the view key of medic serve\'s /status and /metrics off loopback, when the config\'s serve.viewKeyEnv names it (the example config does)'],
  ['PGPASSWORD', 'the PostgreSQL password, when the config names no passwordFile'],
  ['HTTPS_PROXY, HTTP_PROXY, NO_PROXY', 'the proxy for events and pings'],
  ['NO_COLOR', 'no colour, even on a terminal'],
  ['TZ', "the machine's time zone (else /etc/localtime), for schedules and maintenance windows that name none"],
];

/** The files Medic reads and writes. */
export const FILES: readonly (readonly [string, string])[] = [
  ['medic.config.json', 'the config, searched from the current folder upwards (also medic.config.yaml, .medicrc, package.json#medic and the other names of docs/configuration.md)'],
  ['~/.config/medic/, /etc/medic/', 'searched after the folders above'],
  ['medic.db', 'the SQLite database, beside the config unless "database" says otherwise'],
];

/** Help text lines are cut at this width, so that help reads on an 80-column terminal. */
export const HELP_WIDTH = 80;

/** `text` as lines of at most `width` columns (a word longer than that stays whole), each starting with `indent`. */
export function wrap(text: string, width: number, indent = ''): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(indent + line);
  return lines;
}

/** The "Exit codes:" block under the program's help. */
export function exitCodesHelp(): string {
  return ['', 'Exit codes:', ...EXIT_STATUS.flatMap(([code, meaning]) => wrap(meaning, HELP_WIDTH - 7, '').map((l, i) => `  ${i === 0 ? String(code).padEnd(5) : '     '}${l}`))].join('\n');
}

/** The "Examples:" block under a command's help. */
export function examplesHelp(examples: readonly Example[]): string {
  const lines = ['', 'Examples:'];
  for (const [i, e] of examples.entries()) {
    if (i > 0) lines.push('');
    lines.push(...wrap(e.says, HELP_WIDTH, '  # '), `  ${e.crontab ? '' : '$ '}${e.line}`);
  }
  return lines.join('\n');
}
