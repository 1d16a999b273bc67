import type { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import pkg from '../package.json' with { type: 'json' };
import type { BeatSignal } from './commands/beat.js';
import type { Config, LoadOptions } from './config.js';
import { beatArgs } from './beat-args.js';
import { EXAMPLES, examplesHelp, exitCodesHelp } from './help.js';
import { ConfigError, EXIT, isMedicError, keysInEnv, redactKnownKeys, redactSecrets, stripUserinfo, UsageError } from './errors.js';
import type { Sink } from './job.js';
import type { Pinger, Sender } from './notify/http.js';
import type { Stream } from './output.js';
import type { Store } from './store/types.js';

export interface Io {
  stdout: Stream;
  stderr: Stream;
  cwd: string;
}

/** What tests may swap when running the CLI in-process; the binary always uses the real ones. */
export interface Overrides {
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  send?: Sender;
  ping?: Pinger;
}

// Help texts are wrapped to 80 columns (src/help.ts HELP_WIDTH; test/e2e/help.test.ts checks).
const REMOTE_HELP = `
With MEDIC_URL set or --url given (the flag wins), the beat goes to medic serve
over HTTP and no config is needed. A beat not delivered within MEDIC_URL_TIMEOUT
(default 10s; retried meanwhile) exits 75; an unknown slug or a wrong ping key
exits 65.`;

const processIo: Io = { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() };

/** This install's medic and node, for the command lines init and doctor print. */
function install(): { binPath: string; nodePath: string } {
  return { binPath: fileURLToPath(new URL('../bin/medic', import.meta.url)), nodePath: process.execPath };
}

/** How long the process may linger after main() settled before it is ended anyway. */
const LINGER_MS = 1500;

/**
 * For bin/medic: run with the real process, set the exit code, and make sure the process ends.
 * This is the one place that calls process.exit.
 */
export function run(): void {
  const env = process.env;
  let crashed = false;
  // Anything thrown or rejected outside main()'s own try (a stray callback or promise) is a bug:
  // exit 70 with the request to report it, never Node's raw stack and exit 1.
  const crash = (err: unknown) => {
    if (crashed) process.exit(EXIT.software);
    crashed = true;
    process.exitCode = EXIT.software;
    setTimeout(() => process.exit(EXIT.software), LINGER_MS).unref();
    void report(err, processIo, env).then(
      () => process.exit(EXIT.software),
      () => process.exit(EXIT.software),
    );
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  // A reader that goes away (`medic status | head`) is not an error worth a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
  void main(process.argv.slice(2), env).then((code) => {
    if (crashed) return;
    process.exitCode = code;
    // A socket or timer left behind (a proxy that never lets go, nodejs/undici#3897) must not keep
    // a cron job alive, nor V8 still compiling undici's parser (300-600 ms on `medic beat` with
    // MEDIC_URL): end once the output has drained, or after a moment whatever happens.
    setTimeout(() => process.exit(code), LINGER_MS).unref();
    const drained = (s: NodeJS.WriteStream) => new Promise<void>((done) => (s.writableLength === 0 ? done() : s.write('', () => done())));
    void Promise.all([drained(process.stdout), drained(process.stderr)]).then(() => process.exit(code));
  }, crash);
}

/**
 * The one entry point: parses argv, builds the dependencies, runs one command and turns every
 * error into a message and an exit code (SPEC §6). Returns the exit code; never calls process.exit.
 */
export async function main(argv: string[], env: NodeJS.ProcessEnv, io: Io = processIo, overrides: Overrides = {}): Promise<number> {
  let now = overrides.now ?? Date.now;
  /** [scale] A store with a clock of its own (PostgreSQL's) is the clock of the command that opened it, as of a check. */
  const onStoreClock = async (store: Store) => {
    const at = await store.clock();
    if (at === null) return;
    const local = now;
    const offset = at - local();
    now = () => local() + offset;
  };
  const sleep = overrides.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  if (argv[0] === '__complete') {
    // A shell completing a word (src/commands/completion.ts): the config's names, fast, and silent on any error.
    const { completeNames } = await import('./commands/completion.js');
    const { findConfig } = await import('./config-file.js');
    io.stdout.write(await completeNames(argv.slice(1), { load: loadOptions(undefined, io, env), findConfig }));
    return EXIT.ok;
  }
  const fast = beatArgs(argv);
  if (fast) {
    try {
      await fastBeat(fast, env, io, now);
      return EXIT.ok;
    } catch (err) {
      return report(err, io, env);
    }
  }
  // commander costs ~10 ms to load: only commands other than a plain `beat` pay for it.
  const { Argument, Command, Option } = await import('commander');
  let job: (() => Promise<number | void>) | undefined;
  let globalConfig: string | undefined;
  const print = (text: string) => io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);

  const program = new Command('medic')
    .description('Heartbeat monitoring for cron jobs and services, paging PagerDuty (and Slack, webhooks) when they go quiet.')
    .version(pkg.version, '-V, --version')
    .option('-c, --config <path>', 'config file (else $MEDIC_CONFIG, else searched from the current folder)')
    .addHelpText('after', exitCodesHelp())
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s), outputError: () => {} })
    .hook('preAction', (cmd) => {
      globalConfig = cmd.opts().config;
    });

  const withConfig = (cmd: Command) => cmd.option('-c, --config <path>', 'config file');
  const config = async (cmd: Command): Promise<Config> => {
    const { loadConfig } = await import('./config.js');
    return loadConfig(loadOptions(cmd.opts().config ?? globalConfig, io, env));
  };
  const sender = async (): Promise<Sender> => overrides.send ?? (await import('./notify/http.js')).httpSender(env);
  const pinger = async (): Promise<Pinger> => overrides.ping ?? (await import('./notify/http.js')).httpPinger(env);
  const { jsonSafe, printable, printableLines } = await import('./output.js');
  /** Every --json output: controls and bidi characters escaped (jsonSafe), the same JSON value. */
  const printJson = (json: string) => print(jsonSafe(json));
  const warn = (text: string) => io.stderr.write(`medic: ${printableLines(text)}\n`);
  /** Human lines: control characters in them (a server's answer, a reason, a name) are escaped. JSON goes through print. */
  const human = (text: string) => print(printableLines(text));
  /** Node's own warning is generic; say what it means for pages, once per run. */
  const warnTls = () => {
    if (env.NODE_TLS_REJECT_UNAUTHORIZED === '0') {
      warn('NODE_TLS_REJECT_UNAUTHORIZED=0 turns certificate checks off: anyone between this machine and PagerDuty can read the routing key and answer in its place; unset it');
    }
  };
  /**
   * Runs a command body with the config and an open store, closing the store afterwards. A
   * read-only command never creates or migrates the database.
   */
  const withStore = async <T>(cmd: Command, body: (cfg: Config, store: Store) => Promise<T>, opts: { readOnly?: boolean } = {}): Promise<T> => {
    const cfg = await config(cmd);
    const { openStore } = await import('./store/index.js');
    const store = await openStore(cfg, { uid: userId(), gid: groupId(), readOnly: opts.readOnly });
    try {
      await onStoreClock(store);
      return await body(cfg, store);
    } finally {
      await store.close();
    }
  };

  /**
   * For status and history: on-call must see state while someone's edit of the config is broken.
   * They show what is valid on their own, then the problems, and exit 78 (a file that cannot be
   * read or parsed at all is 78 straight away).
   */
  const withLenientStore = async (cmd: Command, body: (cfg: Config, store: Store, partial: boolean) => Promise<void>): Promise<number> => {
    const { loadConfigLenient } = await import('./config.js');
    const { config: cfg, problems } = await loadConfigLenient(loadOptions(cmd.opts().config ?? globalConfig, io, env));
    if (cfg.zoneNote) warn(cfg.zoneNote);
    const { openStore } = await import('./store/index.js');
    const store = await openStore(cfg, { uid: userId(), gid: groupId(), readOnly: true });
    try {
      await onStoreClock(store);
      await body(cfg, store, problems !== null);
    } catch (err) {
      // "unknown service" may only mean its entry is the broken part: say both.
      if (!problems || !isMedicError(err)) throw err;
      await report(err, io, env);
    } finally {
      await store.close();
    }
    if (!problems) return EXIT.ok;
    const { formatError, painter } = await import('./output.js');
    io.stderr.write(formatError(`warning: only the valid part of the config is shown; ${problems.message}`, problems.hint, painter(io.stderr, env)));
    return EXIT.config;
  };

  /**
   * A check whose config has problems cannot evaluate, but beats go on being recorded (a beat only
   * needs its slug and the database): note the attempt, so that once the config is fixed the time in
   * between is not taken for a blind period and the services that went down meanwhile page at once.
   * Only when the file parses (a file that does not parse stops beats too) and not on --dry-run.
   */
  const noteBrokenRun = async (cmd: Command, dryRun: boolean, evaluated: () => boolean, run: () => Promise<void>): Promise<void> => {
    try {
      await run();
    } catch (err) {
      if (!dryRun && !evaluated() && isMedicError(err) && err.exitCode === EXIT.config) {
        try {
          const { loadConfigLenient } = await import('./config.js');
          const { config: cfg } = await loadConfigLenient(loadOptions(cmd.opts().config ?? globalConfig, io, env));
          const { openStore } = await import('./store/index.js');
          const store = await openStore(cfg, { uid: userId(), gid: groupId() });
          try {
            await store.noteCheckAttempt(now());
          } finally {
            await store.close();
          }
        } catch {
          // Best effort: the config problem is what this run reports.
        }
      }
      throw err;
    }
  };

  withConfig(program.command('init'))
    .description('write a starter medic.config.json here (or the --config path) and print the crontab line; with --systemd, systemd units instead')
    .option('--force', 'overwrite an existing config (replacing the file, never writing through a link)')
    .option('--systemd', 'write medic-check.service, medic-check.timer and medic-serve.service for this install and config (never a config)')
    .option('--dir <folder>', 'with --systemd: the folder to write the units into (default: the current one)')
    .option('--print', 'with --systemd: print the units instead of writing them')
    .action((opts: { force?: boolean; config?: string; systemd?: boolean; dir?: string; print?: boolean }) => {
      job = async () => {
        if (opts.systemd) {
          const { initSystemd } = await import('./commands/init.js');
          const { userInfo } = await import('node:os');
          const path = opts.config ?? globalConfig;
          const load = async () => {
            const { findConfig, buildConfig } = await import('./config.js');
            const where = loadOptions(path, io, env);
            // No config yet is fine: the units name the path it will have. A broken one is not.
            const found = await findConfig(where).catch((err: unknown) => (isMedicError(err) && /not found|no Medic config found/.test(err.message) ? null : Promise.reject(err)));
            return found && buildConfig(found.raw, found.file, where);
          };
          const uid = userId();
          // A uid with no name (a container's arbitrary user): systemd takes the number.
          const user = (() => {
            try {
              return userInfo().username;
            } catch {
              return String(uid);
            }
          })();
          const result = await initSystemd(
            { force: opts.force === true, print: opts.print === true, dir: opts.dir, config: path },
            { cwd: io.cwd, ...install(), loadConfig: load, user, uid, gid: groupId() },
          );
          if (opts.print) {
            print(result.units.map((u) => `# ==> ${u.name} <==\n${u.text}`).join('\n'));
            for (const line of result.lines) io.stderr.write(`${printable(line)}\n`);
          } else {
            for (const line of result.lines) human(line);
          }
          return;
        }
        if (opts.dir !== undefined || opts.print) throw new UsageError('--dir and --print go with --systemd', 'run medic init --systemd --dir <folder>, or medic init without them');
        const { init } = await import('./commands/init.js');
        const root = fileURLToPath(new URL('..', import.meta.url));
        const result = init({ force: opts.force === true, config: opts.config ?? globalConfig }, { cwd: io.cwd, ...install(), schemaPath: `${root}medic.schema.json`, uid: userId(), gid: groupId() });
        for (const line of result.lines) human(line);
      };
    });

  withConfig(program.command('beat'))
    .description('record one heartbeat for a service (silent on success)')
    .argument('<slug>', 'the service slug from the config')
    .option('--start', 'record that a run started (arms maxRuntime; not a success)')
    .option('--fail', 'record that a run failed: the service is down at the next check, until a later success')
    .option('-m, --message <text>', 'a few words kept with the beat (shown in history; with --fail, in the page)')
    .option('--url <base>', 'send the beat to medic serve at this ping URL (https://host/ping/<ping-key>; default: $MEDIC_URL) instead of recording it here')
    .addHelpText('after', REMOTE_HELP)
    .action((slug: string, opts: { start?: boolean; fail?: boolean; message?: string; url?: string }, cmd: Command) => {
      if (opts.start && opts.fail) throw new UsageError('--start and --fail cannot be given together', 'a run starts (--start), then succeeds (no flag) or fails (--fail): one beat for each');
      const kind = opts.start ? 'start' : opts.fail ? 'fail' : opts.message !== undefined ? 'ok' : null;
      const signal = kind ? { kind, ...(opts.message !== undefined && { message: opts.message }) } as const : undefined;
      job = () => fastBeat({ slug, config: cmd.opts().config ?? globalConfig }, env, io, now, signal, opts.url);
    });

  withConfig(program.command('run'))
    .description("run a job: record its start, then its success or failure (exit code, duration, the end of its output); exit with the job's own code")
    .usage('[options] <slug> -- <command...>')
    .argument('<slug>', 'the service slug from the config')
    .argument('<command...>', 'the command and its arguments, after -- (run without a shell: for one, give `sh -c \'...\'`)')
    .option('--timeout <duration>', 'stop the job after this long (TERM, then KILL 5 s later), record a failure and exit 124')
    .option('--url <base>', 'send the start and the end to medic serve at this ping URL (https://host/ping/<ping-key>; default: $MEDIC_URL) instead of recording them here')
    .addHelpText('after', `
Exit code: the job's own; 128+n when a signal n ended it; 124 after --timeout;
127 command not found, 126 not executable. If the run cannot be recorded
(unknown slug, config missing or broken, database unwritable, medic serve out of
reach), a warning says so on stderr and the job runs all the same.

With MEDIC_URL set or --url given (the flag wins), the start and the end go to
medic serve over HTTP (paired by ?rid=) and no config is needed: the job starts
at once, the start may take 2 s at most, the end MEDIC_URL_TIMEOUT (default
10s).`)
    .action((slug: string, command: string[], opts: { timeout?: string; url?: string }, cmd: Command) => {
      job = async () => {
        // Everything after the first `--` is the command, untouched; without it medic's options and
        // the command's could be taken for each other.
        const dash = argv.indexOf('--');
        const after = dash < 0 ? [] : argv.slice(dash + 1);
        if (after.length !== command.length || after.some((a, i) => a !== command[i])) {
          throw new UsageError('put -- between the slug and the command', 'medic run <slug> [--timeout <duration>] -- <command> [args...]');
        }
        const { run: runJob } = await import('./commands/run.js');
        // With --url or MEDIC_URL the start and the end go to medic serve. A wrong --url is medic's own
        // command line (64, before the job); a wrong MEDIC_URL leaves the job running unmonitored.
        const url = opts.url ?? (env.MEDIC_URL || undefined);
        let remote: import('./commands/run.js').RunRemote | undefined;
        if (url !== undefined) {
          const { remoteRun, remoteTarget, unmonitoredRun } = await import('./commands/remote.js');
          try {
            remote = remoteRun(slug, remoteTarget(url, opts.url !== undefined ? '--url' : 'MEDIC_URL', env), await pingDeps(env, now, sleep));
          } catch (err) {
            if (isMedicError(err) && err.exitCode === EXIT.usage) throw err;
            remote = unmonitoredRun(err);
          }
        }
        const { outputTailOf } = await import('./commands/beat.js');
        const where = loadOptions(cmd.opts().config ?? globalConfig, io, env);
        const { openStore } = await import('./store/index.js');
        const config = await import('./config.js');
        // One read of the config for the whole run: the start, the end, the tail size and the keys to hide.
        let found: ReturnType<typeof config.findConfig> | undefined;
        const findConfig = () => (found ??= config.findConfig(where));
        const { buildConfig } = config;
        const { OUTPUT_TAIL_DEFAULT_BYTES } = await import('./core/signal.js');
        const known = keysInEnv(env);
        // Each line of a message on a line of its own (a config's problems, a JSON error's excerpt), escaped.
        const say = (text: string) => io.stderr.write(text.split('\n').map((line) => `medic run: ${printable(line)}\n`).join(''));
        return runJob(
          { slug, command, timeout: opts.timeout },
          {
            ...where,
            now,
            pid: process.pid,
            findConfig,
            buildConfig: (raw, file) => buildConfig(raw, file, where),
            openStore: (target) => openStore(target, { uid: where.uid, gid: where.gid }),
            stdout: byteSink(io.stdout),
            stderr: byteSink(io.stderr),
            monotonic: () => performance.now(),
            kill: (pid, signal) => process.kill(pid, signal),
            onSignal: (forward) => {
              const handlers = FORWARDED.map((signal) => [signal, () => forward(signal)] as const);
              for (const [signal, handler] of handlers) process.on(signal, handler);
              return () => {
                for (const [signal, handler] of handlers) process.off(signal, handler);
              };
            },
            // As a beat does, read only what it needs: the service's `outputTail`, else `defaults.outputTail`.
            // Remote: the config-less default (the server keeps at most its Ping-Body-Limit anyway).
            outputTailBytes: async (s) => (remote ? OUTPUT_TAIL_DEFAULT_BYTES : (outputTailOf((await findConfig()).raw, s) ?? OUTPUT_TAIL_DEFAULT_BYTES)),
            keysToHide: async () => {
              const { keysToHide } = await import('./notify/keys.js');
              const file = await findConfig().catch(() => null);
              return file ? keysToHide(file.raw, file.file, env, where.uid) : keysInEnv(env);
            },
            say,
            notMonitored: (err) => {
              const medicError = isMedicError(err);
              const text = medicError ? `${err.message}${err.hint ? `; ${err.hint}` : ''}` : `internal error: ${err instanceof Error ? err.message : String(err)}`;
              say(`not monitored: ${redactSecrets(stripUserinfo(text), known, { keyShaped: !medicError || err.quotesThirdParty })}`);
            },
            remote,
          },
        );
      };
    });

  withConfig(program.command('check'))
    .description('evaluate every service, record state changes, deliver due events to PagerDuty, Slack and webhooks (run from cron every minute)')
    .option('--dry-run', 'show what would change; write and send nothing')
    .option('--retry-refused', 'send events a target refused again now, even though the target did not change')
    .option('-v, --verbose', 'say what happens')
    .option('--json', 'print what the run did as JSON for scripts')
    .action((opts: { dryRun?: boolean; retryRefused?: boolean; verbose?: boolean; json?: boolean }, cmd: Command) => {
      let evaluated = false;
      job = () =>
        noteBrokenRun(cmd, opts.dryRun === true, () => evaluated, () => withStore(cmd, async (cfg, store) => {
          evaluated = true;
          const { check, checkerIdentity } = await import('./commands/check.js');
          const verbose = (opts.verbose || opts.dryRun) && !opts.json ? human : () => {};
          warnTls();
          const { hostname } = await import('node:os');
          const { setTimeout: timer } = await import('node:timers/promises');
          const result = await check(
            { dryRun: opts.dryRun === true, retryRefused: opts.retryRefused === true },
            {
              config: cfg,
              store,
              send: await sender(),
              ping: await pinger(),
              env,
              uid: userId(),
              pid: process.pid,
              host: hostname(),
              identity: checkerIdentity(),
              now,
              sleep,
              monotonic: () => performance.now(),
              random: Math.random,
              timer: (ms, signal) => timer(ms, undefined, { signal, ref: false }),
              verbose,
              notice: warn,
              isAlive,
            },
          );
          if (opts.json) {
            const { checkJson } = await import('./output.js');
            printJson(checkJson(result, opts.dryRun === true));
          } else if (result.ran && result.planned.length === 0 && (opts.dryRun || opts.verbose) && (result.delivery?.delivered.length ?? 0) === 0) {
            human(`checked ${cfg.services.length} service${cfg.services.length === 1 ? '' : 's'}: ${opts.dryRun ? 'nothing would change' : 'no changes'}`);
          }
          if (result.undelivered) throw result.undelivered;
        }, { readOnly: opts.dryRun === true }));
    });

  withConfig(program.command('serve'))
    .description('take beats over HTTP on Healthchecks-style URLs (/ping/<ping-key>/<slug>, then /start, /fail, /log or /<exit-status> or nothing) and answer /healthz, /metrics and the status page /status, until SIGTERM')
    .option('-v, --verbose', 'one line per request (the ping key never in it), and a summary at the end')
    .addHelpText('after', `
The ping key comes from $MEDIC_PING_KEY (or the config's serve.pingKeyEnv /
serve.pingKeyFile). SIGTERM or SIGINT: stop accepting, finish the requests in
flight, exit 0. SIGHUP: read the config again (a broken one is reported and the
running one kept). Exit codes: 74 database cannot be opened, 78 config invalid,
ping key missing, malformed or unsafe (a key file others can read), serve.tls
files unsafe or not a matching certificate and key, or the listen address
unusable.`)
    .action((opts: { verbose?: boolean }, cmd: Command) => {
      job = async () => {
        const where = loadOptions(cmd.opts().config ?? globalConfig, io, env);
        const { loadConfig } = await import('./config.js');
        const cfg = await loadConfig(where);
        const { openStore } = await import('./store/index.js');
        const { configKeys } = await import('./notify/keys.js');
        const { serve } = await import('./commands/serve.js');
        return serve({
          config: cfg,
          reload: () => loadConfig(where),
          openStore: (c) => openStore(c, { uid: where.uid, gid: where.gid }),
          keysToHide: (c) => configKeys(c.targets.values(), env, where.uid),
          env,
          uid: where.uid,
          gid: where.gid,
          onSignal: ({ stop, reload }) => {
            const handlers = [['SIGTERM', stop], ['SIGINT', stop], ['SIGHUP', reload]] as const;
            for (const [signal, handler] of handlers) process.on(signal, handler);
            return () => {
              for (const [signal, handler] of handlers) process.off(signal, handler);
            };
          },
          say: human,
          warn: (text) => io.stderr.write(`medic serve: ${printableLines(text)}\n`),
          verbose: opts.verbose === true,
          stdoutBacklog: () => io.stdout.writableLength ?? 0,
          monotonic: () => performance.now(),
          now,
          version: pkg.version,
        });
      };
    });

  withConfig(program.command('status'))
    .description('show every service: state, last seen, next deadline, open incident, undelivered events')
    .argument('[slug...]', 'only these services')
    .option('--json', 'print a JSON array for scripts')
    .option('--watch', 'on a terminal: redraw the table in place, marking what changed, until q or Ctrl-C')
    .option('--interval <duration>', 'with --watch: how often to refresh (default 2s, at least 1s)')
    .action((slugs: string[], opts: { json?: boolean; watch?: boolean; interval?: string }, cmd: Command) => {
      if (opts.watch) {
        job = async () => {
          const { NOT_A_TERMINAL, watch, watchInterval } = await import('./commands/watch.js');
          if (opts.json) throw new UsageError('--watch and --json cannot be given together', 'use medic status --json for scripts');
          const intervalMs = watchInterval(opts.interval);
          if (!io.stdout.isTTY) throw new UsageError(NOT_A_TERMINAL);
          const cfg = await config(cmd);
          const { status } = await import('./commands/status.js');
          const { openStore } = await import('./store/index.js');
          const { painter, statusTable } = await import('./output.js');
          const { setTimeout: timer } = await import('node:timers/promises');
          const paint = painter(io.stdout, env);
          // Opened for each refresh: a database that cannot be read now may be readable at the next one.
          const read = async () => {
            const store = await openStore(cfg, { uid: userId(), gid: groupId(), readOnly: true });
            try {
              const at = (await store.clock()) ?? now();
              return { report: await status({ slugs }, { config: cfg, store, now: () => at }), at };
            } finally {
              await store.close();
            }
          };
          const stdin = process.stdin;
          await watch({
            intervalMs,
            configFile: cfg.file,
            keys: stdin.isTTY === true,
            now,
            read,
            render: (report, at) => statusTable(report, at, paint),
            // As the error funnel shows it: credentials and key-shaped strings hidden (report()).
            explain: (err) => {
              const said = isMedicError(err) && err.hint ? `${err.message} (${err.hint})` : err instanceof Error ? err.message : String(err);
              return redactSecrets(stripUserinfo(said), keysInEnv(env), { keyShaped: true });
            },
            write: (text) => io.stdout.write(text),
            listen: (quit) => {
              const onKey = (data: Buffer) => {
                if (/[qQ\x03]/.test(data.toString('latin1'))) quit();
              };
              const signals = ['SIGINT', 'SIGTERM'] as const;
              for (const s of signals) process.on(s, quit);
              if (stdin.isTTY) stdin.setRawMode(true);
              stdin.on('data', onKey).resume();
              return () => {
                for (const s of signals) process.off(s, quit);
                stdin.off('data', onKey).pause();
                if (stdin.isTTY) stdin.setRawMode(false);
              };
            },
            sleep: (ms, signal) => timer(ms, undefined, { signal }).catch(() => {}),
          });
        };
        return;
      }
      job = () =>
        withLenientStore(cmd, async (cfg, store) => {
          const { status } = await import('./commands/status.js');
          const at = now();
          const report = await status({ slugs }, { config: cfg, store, now: () => at });
          // A failure's message is what a job said: a routing key in it is hidden.
          const { configKeys } = await import('./notify/keys.js');
          const hide = configKeys(cfg.targets.values(), env, userId());
          for (const r of report.rows) if (r.failure?.message) r.failure.message = redactKnownKeys(r.failure.message, hide);
          if (opts.json) {
            printJson(JSON.stringify(report.rows, null, 2));
          } else {
            const { painter, statusTable } = await import('./output.js');
            io.stdout.write(statusTable(report, at, painter(io.stdout, env)));
          }
        });
    });

  withConfig(program.command('metrics'))
    .description("print the state in Prometheus' text format (or write it for node_exporter's textfile collector)")
    .option('--textfile <path>', 'write it atomically to this .prom file instead, silently (cron)')
    .addHelpText('after', `
Read-only: never creates or migrates the database. Exit codes: 64 a path not
ending in .prom, 74 the database or the file cannot be read or written (a
missing folder, a link at the path), 78 config.`)
    .action((opts: { textfile?: string }, cmd: Command) => {
      job = () =>
        withStore(
          cmd,
          async (cfg, store) => {
            const { metricsFamilies, writeTextfile } = await import('./commands/metrics.js');
            const { exposition } = await import('./core/metrics.js');
            const { resolve } = await import('node:path');
            const text = exposition(await metricsFamilies({ config: cfg, store, now, version: pkg.version }));
            if (opts.textfile === undefined) io.stdout.write(text);
            else writeTextfile(resolve(io.cwd, opts.textfile), text, process.pid, { uid: userId(), gid: groupId() });
          },
          { readOnly: true },
        );
    });

  const selection = (cmd: Command) =>
    withConfig(cmd)
      .argument('[slug...]', 'services to change')
      .option('--team <team>', 'every service of this team')
      .option('--all', 'every service');

  selection(program.command('pause'))
    .description('mute services: no trigger while paused (a recovery still resolves); a beat does not end a pause')
    .option('--for <duration>', 'end the pause by itself after this long (e.g. 2h, 30m)')
    .option('--reason <text>', 'shown in status and history')
    .action((slugs: string[], opts: { team?: string; all?: boolean; for?: string; reason?: string }, cmd: Command) => {
      job = () =>
        withStore(cmd, async (cfg, store) => {
          const { pause } = await import('./commands/pause.js');
          // One line, whatever the reason holds.
          print(printable(await pause({ slugs, ...opts }, { config: cfg, store, now })));
        });
    });

  selection(program.command('resume'))
    .description('end pauses; each service gets a full interval × threshold + grace from now')
    .action((slugs: string[], opts: { team?: string; all?: boolean }, cmd: Command) => {
      job = () =>
        withStore(cmd, async (cfg, store) => {
          const { resume } = await import('./commands/resume.js');
          print(printable(await resume({ slugs, ...opts }, { config: cfg, store, now })));
        });
    });

  withConfig(program.command('history'))
    .description("a service's beats, state changes and deliveries on one timeline, oldest first")
    .argument('<slug>', 'the service')
    .option('--since <duration>', 'how far back (e.g. 12h, 7d)', '7d')
    .option('--json', 'print JSON for scripts')
    .action((slug: string, opts: { since: string; json?: boolean }, cmd: Command) => {
      job = () =>
        withLenientStore(cmd, async (cfg, store, partial) => {
          const { history } = await import('./commands/history.js');
          const { configKeys } = await import('./notify/keys.js');
          const hide = configKeys(cfg.targets.values(), env, userId());
          const report = await history({ slug, since: opts.since }, { config: cfg, store, now, keysToHide: hide });
          const { historyJson, historyText, painter } = await import('./output.js');
          if (opts.json) printJson(historyJson(report));
          else io.stdout.write(historyText(report, painter(io.stdout, env), { partialConfig: partial }));
        });
    });

  withConfig(program.command('replay'))
    .description('what a config would have paged over the kept history, beside what did (reads only; sends nothing)')
    .argument('[slug...]', 'the services')
    .option('--all', 'every service')
    .option('--since <duration>', 'how far back (e.g. 7d; bounded by retention)', '30d')
    .option('--with <config>', 'evaluate under this config file instead of the current one')
    .option('--json', 'print JSON for scripts')
    .action((slugs: string[], opts: { all?: boolean; since: string; with?: string; json?: boolean }, cmd: Command) => {
      job = () =>
        withStore(
          cmd,
          async (cfg, store) => {
            const { replay, replayJson, replayText } = await import('./commands/replay.js');
            const { loadConfig } = await import('./config.js');
            const at = now();
            const report = await replay(
              { slugs, all: opts.all === true, since: opts.since, with: opts.with },
              {
                config: cfg,
                store,
                now: () => at,
                // The file is --with's: a hint to check --config would send the user to the wrong flag.
                loadConfig: (path) =>
                  loadConfig(loadOptions(path, io, env)).catch((err: unknown) => {
                    if (err instanceof ConfigError && / not found$/.test(err.message)) throw new ConfigError(`${err.message} (--with)`, 'check the --with path');
                    throw err;
                  }),
              },
            );
            if (opts.json) printJson(replayJson(report));
            else human(replayText(report));
          },
          { readOnly: true },
        );
    });

  withConfig(program.command('migrate'))
    .description('copy the SQLite database into an empty PostgreSQL database, verify the counts, and say what to change in the config')
    .requiredOption('--to <postgres-url>', 'the empty PostgreSQL database, e.g. postgres://medic@db.internal:5432/medic (no password in it)')
    .option('--password-file <path>', "the PostgreSQL password's file (else PGPASSWORD, else ~/.pgpass)")
    .option('-v, --verbose', 'a line per table copied, whatever the size')
    .option('--json', 'print what was copied as JSON for scripts')
    .action((opts: { to: string; passwordFile?: string; verbose?: boolean; json?: boolean }, cmd: Command) => {
      job = async () => {
        const { checkTargetUrl, migrate, migrateJson, migrateText } = await import('./commands/migrate.js');
        checkTargetUrl(opts.to);
        const cfg = await config(cmd);
        const { migrateToPostgres } = await import('./store/migrate.js');
        const { readPasswordFile } = await import('./store/postgres-url.js');
        const { hostname } = await import('node:os');
        const { resolve } = await import('node:path');
        // --password-file, else the config's "passwordFile", else pg reads PGPASSWORD, then ~/.pgpass.
        const passwordFile = opts.passwordFile !== undefined ? resolve(io.cwd, opts.passwordFile) : cfg.passwordFile;
        const password = passwordFile ? readPasswordFile(passwordFile, userId()) : undefined;
        const result = await migrate(
          { to: opts.to },
          {
            config: cfg,
            copy: (from, to) =>
              migrateToPostgres(from, to, {
                owner: `${process.pid}@${hostname()}`,
                now,
                sleep,
                uid: userId(),
                gid: groupId(),
                mode: cfg.databaseMode,
                ...(password !== undefined && { password }),
                progress: (line) => warn(line),
                notice: warn,
                verbose: opts.verbose === true,
              }),
          },
        );
        if (opts.json) printJson(migrateJson(result));
        else human(migrateText(result));
      };
    });

  withConfig(program.command('doctor'))
    .description('check the config, database, routing keys, events URL, crontab entry (or systemd timer) and last check run; say what to fix')
    .option('--send-test', "send the guide's test trigger and its resolve to every target (instead of only checking that each events URL answers)")
    .option('--json', 'print the findings as JSON for scripts')
    .action((opts: { sendTest?: boolean; json?: boolean }, cmd: Command) => {
      job = async () => {
        const { doctor, findSystemdTimer, formatFindings, readUserCrontab } = await import('./commands/doctor.js');
        const { isExecutableFile } = await import('./crontab.js');
        const { probeEventsUrl } = await import('./notify/http.js');
        const { openStore } = await import('./store/index.js');
        const reach = (url: string, timeoutMs: number) => probeEventsUrl(url, timeoutMs, env);
        const result = await doctor(
          { sendTest: opts.sendTest === true },
          {
            loadConfig: () => config(cmd),
            openStore: (cfg) => openStore(cfg, { uid: userId(), gid: groupId(), readOnly: true }),
            env,
            now,
            sleep,
            send: await sender(),
            reach,
            readCrontab: () => readUserCrontab(env),
            findTimer: () => findSystemdTimer(env),
            install: install(),
            isExecutable: isExecutableFile,
            uid: userId(),
            gid: groupId(),
          },
        );
        if (opts.json) {
          printJson(JSON.stringify(result.findings, null, 2));
        } else {
          const { painter } = await import('./output.js');
          const c = painter(io.stdout, env);
          const shown = result.findings.map((f) => ({ ...f, check: printable(f.check), detail: printableLines(f.detail), ...(f.fix !== undefined && { fix: printableLines(f.fix) }) }));
          io.stdout.write(formatFindings(shown, (level, text) => (level === 'ok' ? c.green : level === 'warn' ? c.yellow : level === 'fail' ? c.red : c.dim)(text)));
        }
        return result.exitCode;
      };
    });

  withConfig(program.command('discover'))
    .description("list this user's crontab jobs with a proposed service for each; --apply adds them to the config and wraps their lines in medic run")
    .option('--system', 'also list /etc/crontab and /etc/cron.d (listed only: never edited)')
    .option('--apply', 'add the services to the (JSON) config and rewrite the crontab lines, after showing both diffs and asking')
    .option('-y, --yes', 'with --apply: do not ask (needed without a terminal)')
    .option('--json', 'print the proposals as JSON for scripts')
    .addHelpText('after', `
Skipped, with the reason: lines that already run medic, @reboot, lines with a %
not written as \\% (cron's stdin marker), environment lines and comments.
--apply keeps a copy of the old crontab beside the config (crontab.<time>.bak,
mode 600): \`crontab <that file>\` puts it back.`)
    .action((opts: { system?: boolean; apply?: boolean; yes?: boolean; json?: boolean }, cmd: Command) => {
      job = async () => {
        const { discover, discoverText, installUserCrontab, readSystemCrontabs, readUserCrontabBytes } = await import('./commands/discover.js');
        const { isExecutableFile } = await import('./crontab.js');
        const { buildConfig, findConfig, machineZone } = await import('./config.js');
        const { realpathSync } = await import('node:fs');
        const { homedir } = await import('node:os');
        const where = loadOptions(cmd.opts().config ?? globalConfig, io, env);
        const zone = machineZone(Intl.DateTimeFormat().resolvedOptions().timeZone, env.TZ);
        if (zone.note) warn(zone.note);
        const stdin = process.stdin;
        // Crontab lines are shown to be pasted: a tab stays a tab; other control characters are escaped.
        const show = (text: string) => print(text.split('\t').map(printableLines).join('\t'));
        const report = await discover(
          { system: opts.system === true, apply: opts.apply === true, yes: opts.yes === true },
          {
            readCrontab: () => readUserCrontabBytes(env),
            installCrontab: installUserCrontab(env),
            readSystem: () => readSystemCrontabs(),
            findConfig: () => findConfig(where),
            checkConfig: (raw, file) => void buildConfig(raw, file, where),
            zone: zone.zone,
            now,
            install: install(),
            home: env.HOME ?? homedir(),
            isExecutable: isExecutableFile,
            realpath: (path) => realpathSync(path),
            uid: userId(),
            gid: groupId(),
            confirm: stdin.isTTY
              ? async (question) => {
                  const { createInterface } = await import('node:readline/promises');
                  const rl = createInterface({ input: stdin, output: process.stderr });
                  try {
                    // Ctrl-C or Ctrl-D at the question is a no.
                    return await new Promise<boolean>((done) => {
                      rl.on('SIGINT', () => done(false));
                      rl.on('close', () => done(false));
                      rl.question(question).then((answer) => done(/^y(es)?$/i.test(answer.trim())), () => done(false));
                    });
                  } finally {
                    rl.close();
                  }
                }
              : null,
            say: opts.json ? warn : show,
          },
        );
        if (opts.json) printJson(JSON.stringify(report, null, 2));
        else if (!opts.apply) for (const line of discoverText(report)) show(line);
      };
    });

  withConfig(program.command('test-alert'))
    .description("send a test event to each target (PagerDuty: the guide's test event; Slack: a test message; webhook: a signed test event) and print the answer")
    .option('--resolve', 'send the resolve for the test alert instead')
    .addOption(new Option('--target <name>', 'only this target (default: every target)'))
    .action((opts: { resolve?: boolean; target?: string }, cmd: Command) => {
      job = async () => {
        const cfg = await config(cmd);
        warnTls();
        const { testAlert } = await import('./commands/test-alert.js');
        await testAlert(
          { resolve: opts.resolve === true, target: opts.target },
          { config: cfg, send: await sender(), env, uid: userId(), sleep, report: human },
        );
      };
    });

  program
    .command('completion')
    .description('print the completion script for bash, zsh or fish (commands, options, and slugs, teams and targets from the config)')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh', 'fish']))
    .addHelpText('after', `
Install: bash: source <(medic completion bash) in ~/.bashrc, or save it as
~/.local/share/bash-completion/completions/medic; zsh: save it as _medic in a
folder of $fpath (before compinit); fish: save it as
~/.config/fish/completions/medic.fish.`)
    .action((shell: 'bash' | 'zsh' | 'fish') => {
      job = async () => {
        const { completionScript, describeCli } = await import('./commands/completion.js');
        io.stdout.write(completionScript(shell, describeCli(program)));
      };
    });

  // Examples under every command's help, from the table the man page reads too (src/help.ts).
  for (const cmd of [program, ...program.commands]) {
    const examples = EXAMPLES[cmd === program ? 'medic' : cmd.name()];
    if (examples) cmd.addHelpText('after', examplesHelp(examples));
  }
  if (argv[0] === '__man' && argv.length === 1) {
    // scripts/build.mjs writes dist/medic.1 from this: the page of this very program.
    const { manPage, manSpec } = await import('./commands/man.js');
    io.stdout.write(manPage(manSpec(program, EXAMPLES, examplesHelp), pkg.version));
    return EXIT.ok;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    if (!job) return EXIT.ok;
    const code = await job();
    return typeof code === 'number' ? code : EXIT.ok;
  } catch (err) {
    return report(err, io, env);
  }
}

/**
 * `medic beat` without commander: the quick path (an explicit JSON config, src/quick-beat.ts),
 * else the full path, which gives the same answer on every config (commands/beat.ts).
 */
async function fastBeat(args: { slug: string; config?: string }, env: NodeJS.ProcessEnv, io: Io, now: () => number, signal?: BeatSignal, url?: string): Promise<void> {
  const opts = loadOptions(args.config, io, env);
  // `--url`, else MEDIC_URL: the beat goes to medic serve; no config is needed (one found is used only for the keys to hide).
  const remoteUrl = url ?? (env.MEDIC_URL || undefined);
  const deps = { ...opts, now, pid: process.pid };
  const { quickBeat } = await import('./quick-beat.js');
  const { beat, withoutKeys } = await import('./commands/beat.js');
  // Read once (and config.js loaded only when needed): for the keys to hide in a message, then, if
  // the quick path declines, for the beat.
  let found: ReturnType<typeof import('./config.js').findConfig> | undefined;
  const findConfig = () => (found ??= import('./config.js').then((c) => c.findConfig(opts)));
  if (signal?.message) {
    // A message may hold a key: those in the environment and in the config's key files are hidden.
    const { keysToHide } = await import('./notify/keys.js');
    const file = await findConfig().catch(() => null);
    signal = withoutKeys(signal, env, file ? keysToHide(file.raw, file.file, env, opts.uid) : []);
  }
  if (remoteUrl !== undefined) {
    const { remoteBeat, remoteTarget } = await import('./commands/remote.js');
    const target = remoteTarget(remoteUrl, url !== undefined ? '--url' : 'MEDIC_URL', env);
    await remoteBeat({ slug: args.slug, signal }, target, await pingDeps(env, now, (ms) => new Promise<void>((r) => setTimeout(r, ms))));
    return;
  }
  if (await quickBeat(args.slug, deps, signal)) return;
  const { openStore } = await import('./store/index.js');
  const { buildConfig } = await import('./config.js');
  await beat({ slug: args.slug, signal }, { ...deps, findConfig, buildConfig: (raw, file) => buildConfig(raw, file, opts), openStore: (target) => openStore(target, { uid: opts.uid, gid: opts.gid }) });
}

/** What a ping to medic serve needs: the undici sender (proxies from `env`), the clocks, a sleep. */
async function pingDeps(env: NodeJS.ProcessEnv, now: () => number, sleep: (ms: number) => Promise<void>): Promise<import('./notify/ping-client.js').PingClientDeps> {
  const { httpPingSender } = await import('./notify/ping-client.js');
  return { send: await httpPingSender(env), monotonic: () => performance.now(), now, sleep, random: Math.random };
}

/** For bin/medic: the quick beat (dist/quick-beat.cjs) failed with `err`; report it as main() would. */
export function runFailedBeat(err: unknown): void {
  void report(err, processIo, process.env).then((code) => {
    process.exitCode = code;
  });
}

/** What `medic run` passes on to its job instead of ending (timeout(1) forwards these too). */
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * The job's output, byte for byte: the process's own streams are Writables already; a text stream
 * (main() called in-process) gets it decoded.
 */
function byteSink(stream: Stream): Sink {
  if (typeof (stream as Partial<Sink>).once === 'function') return stream as Stream & Sink;
  const decoder = new TextDecoder();
  const sink = {
    write: (chunk: Uint8Array) => {
      stream.write(decoder.decode(chunk, { stream: true }));
      return true;
    },
    once: () => sink,
    on: () => sink,
    off: () => sink,
  };
  return sink as unknown as Sink;
}

/** Where the config is and who is asking: only files this user or root owns are trusted (SPEC §8). */
function loadOptions(path: string | undefined, io: Io, env: NodeJS.ProcessEnv): LoadOptions {
  return { path, cwd: io.cwd, env, uid: userId(), gid: groupId() };
}

/** Whose files Medic trusts besides root's (SPEC §8): the effective user, whose rights open them. */
function userId(): number {
  return process.geteuid?.() ?? -1;
}

/** The effective user's primary group: with user private groups, a folder only it can write is trusted. */
function groupId(): number | undefined {
  return process.getegid?.();
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The exit funnel: a MedicError is one red line and a dim hint; anything else is a bug (70).
 * Routing keys found in the environment are hidden wherever they appear; any key-shaped token is
 * hidden too in text that quotes someone else (errors marked so, and internal errors). No URL is
 * printed with its userinfo.
 */
async function report(err: unknown, io: Io, env: NodeJS.ProcessEnv): Promise<number> {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && code.startsWith('commander.')) {
    if (code === 'commander.helpDisplayed' || code === 'commander.version') return EXIT.ok;
    // No command given: commander has printed the help to stderr; that is a usage error.
    if (code === 'commander.help') return EXIT.usage;
    err = new UsageError((err as Error).message.replace(/^error: /, ''), 'see `medic --help`');
  }
  const { formatError, painter, printableLines } = await import('./output.js');
  const c = painter(io.stderr, env);
  const known = keysInEnv(env);
  if (isMedicError(err)) {
    const hide = (text: string) => redactSecrets(stripUserinfo(text), known, { keyShaped: err.quotesThirdParty });
    io.stderr.write(formatError(hide(err.message), err.hint === undefined ? undefined : hide(err.hint), c));
    return err.exitCode;
  }
  const hide = (text: string) => redactSecrets(stripUserinfo(text), known, { keyShaped: true });
  const e = err as Error | undefined;
  const message = e instanceof Error ? e.message : String(err);
  io.stderr.write(formatError(hide(`internal error: ${message}`), 'this is a bug in Medic; please report it with the lines below', c));
  if (e instanceof Error && e.stack) io.stderr.write(`${printableLines(hide(e.stack))}\n`);
  return EXIT.software;
}
