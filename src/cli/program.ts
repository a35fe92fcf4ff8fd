import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { CliError, ExitCode } from './exit-codes.js';
import { integerOption } from './options.js';
import { runApp, type CliIO } from './run-app.js';

/** The project's root, from src/cli (source, through tsx) or dist/src/cli (compiled). */
const fromSource = import.meta.url.endsWith('.ts');
const projectFile = (relative: string) => fileURLToPath(new URL(`${fromSource ? '../..' : '../../..'}/${relative}`, import.meta.url));

/**
 * The `ringflow` command. Returns the exit code (never calls process.exit itself, except through
 * io.exit on a forced second signal), so tests can drive it in-process.
 */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  let code: number = ExitCode.ok;
  const program = new Command('ringflow')
    .description('Stream processing and local service calls on every core, over shared-memory rings.')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError('(ringflow --help lists the commands)');

  program
    .command('run')
    .description('run an app: a module whose default export builds a pipeline on the environment it is given')
    .argument('<app>', 'the app module (.ts through tsx, or compiled .js)')
    .option('-w, --workers <n>', 'default parallelism of each operator', integerOption('--workers', 1, 1024))
    .option('--state <dir>', 'state directory: tables are checkpointed there, and a rerun recovers them')
    .option('--app-id <id>', "the app's name in the state directory (default: the module's file name)")
    .option('--checkpoint-interval <ms>', 'milliseconds between checkpoints, with --state', integerOption('--checkpoint-interval', 10, 3_600_000))
    .option('--metrics <port>', 'serve Prometheus metrics and the live page on this port (0: any free port)', integerOption('--metrics', 0, 65535))
    .option('--metrics-host <host>', 'address the metrics server listens on', '127.0.0.1')
    .option('--interval <ms>', 'milliseconds between progress lines', integerOption('--interval', 50, 3_600_000), 1000)
    .option('-q, --quiet', 'no progress lines or summary')
    .action(async (app: string, options) => {
      code = await runApp(app, options, io);
    });

  program
    .command('demo')
    .description('run the main demo (embeddings deduplicated and windowed on every core)')
    .action(async () => {
      const demo = projectFile(fromSource ? 'examples/demo.ts' : 'dist/examples/demo.js');
      if (!existsSync(demo)) throw new CliError('ERR_DEMO_MISSING', `the demo is not part of this install (${demo})`, ExitCode.moduleNotFound);
      await import(demo);
    });

  program
    .command('bench')
    .description('run the benchmarks (compiled) and write bench/results.json; extra arguments filter suites')
    .argument('[filters...]', 'suite names, and --quick for a smoke run')
    .allowUnknownOption()
    .action(async (filters: string[]) => {
      const bench = projectFile('dist/bench/run.js');
      if (!existsSync(bench)) throw new CliError('ERR_BENCH_MISSING', `the benchmarks need a source checkout built with npm run build (${bench} is missing)`, ExitCode.moduleNotFound);
      process.argv = [process.argv[0]!, bench, ...filters];
      await import(bench);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // help and version are not failures; everything else commander refuses is a usage error.
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (error instanceof CliError) {
      io.stderr.write(`ringflow: ${error.message}\n`);
      return error.exitCode;
    }
    const e = error as Error & { code?: string };
    io.stderr.write(`ringflow: ${e?.code ? `${e.code}: ` : ''}${e?.message ?? String(error)}\n`);
    return ExitCode.jobFailed;
  }
  return code;
}

/** The real process's streams, signals and exit. */
export function processIO(): CliIO {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    onSignal(signal, handler) {
      process.on(signal, handler);
      return () => process.off(signal, handler);
    },
    exit: (code) => process.exit(code),
  };
}
