import { basename } from 'node:path';
import { StreamEnvironment, type JobResult, type RunningJob, type StreamEnvironmentOptions } from '../stream/index.js';
import { loadApp } from './app-module.js';
import { CliError, ExitCode, type ExitCodeValue } from './exit-codes.js';
import { ProgressReporter, type ProgressOutput } from './progress.js';

export interface RunOptions {
  workers?: number;
  state?: string;
  appId?: string;
  checkpointInterval?: number;
  metrics?: number;
  metricsHost?: string;
  /** Milliseconds between progress lines. */
  interval: number;
  quiet?: boolean;
}

export interface CliIO {
  stdout: ProgressOutput;
  stderr: { write(text: string): void };
  /** Registers the signal handlers (process.on in the real command; tests pass their own). */
  onSignal(signal: 'SIGINT' | 'SIGTERM', handler: () => void): () => void;
  exit(code: number): never;
}

/**
 * `ringflow run <app>`: builds the app's pipeline on a fresh environment, runs it with progress
 * lines (and a metrics server when asked), and maps how it ended to an exit code. The first
 * SIGINT/SIGTERM stops the sources and lets everything in flight drain (exit 0); a second one
 * exits at once (130).
 */
export async function runApp(path: string, options: RunOptions, io: CliIO): Promise<ExitCodeValue> {
  const build = await loadApp(path);
  const env = new StreamEnvironment(environmentOptions(path, options));
  await build(env);
  const metrics = options.metrics === undefined ? undefined : await startMetrics(env, options.metrics, options.metricsHost ?? '127.0.0.1');
  if (metrics) io.stderr.write(`metrics: http://${metrics.address}/metrics\n`);

  let job: RunningJob;
  try {
    job = env.start();
  } catch (error) {
    await metrics?.close();
    throw error;
  }
  metrics?.attach(job);
  const progress = new ProgressReporter(io.stdout);
  const timer = options.quiet ? undefined : setInterval(() => progress.show(job.snapshot()), options.interval);
  timer?.unref();

  let stopping = false;
  const onStop = (signal: string) => {
    if (stopping) {
      io.stderr.write(`\n${signal} again: exiting without draining\n`);
      io.exit(ExitCode.forced);
    }
    stopping = true;
    io.stderr.write(`\n${signal}: stopping the sources and draining what is in flight (again to force)\n`);
    stopJob(job, env);
  };
  const removers = [io.onSignal('SIGINT', () => onStop('SIGINT')), io.onSignal('SIGTERM', () => onStop('SIGTERM'))];

  let result: JobResult | undefined;
  let failure: unknown;
  try {
    result = await job.done;
  } catch (error) {
    failure = error;
  } finally {
    if (timer) clearInterval(timer);
    progress.finish();
    for (const remove of removers) remove();
    await env.close();
    await metrics?.close();
  }
  if (failure !== undefined) {
    const error = failure as Error & { code?: string };
    if (stopping && error?.name === 'AbortError') {
      io.stderr.write('stopped\n');
      return ExitCode.ok;
    }
    io.stderr.write(`job failed${error?.code ? ` (${error.code})` : ''}: ${error?.message ?? String(failure)}\n`);
    return ExitCode.jobFailed;
  }
  if (!options.quiet) io.stdout.write(`${summary(result!)}\n`);
  return ExitCode.ok;
}

/** The environment `run`'s flags ask for: --workers, and --state with its app id and interval. */
function environmentOptions(path: string, options: RunOptions): StreamEnvironmentOptions {
  const env: StreamEnvironmentOptions = {};
  if (options.workers !== undefined) env.workers = options.workers;
  if (options.state === undefined) {
    if (options.appId !== undefined || options.checkpointInterval !== undefined) {
      throw new CliError('ERR_STATE_FLAG_ALONE', '--app-id and --checkpoint-interval go with --state <dir>', ExitCode.usage);
    }
    return env;
  }
  const appId = options.appId ?? basename(path).replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100);
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(appId)) {
    throw new CliError('ERR_BAD_APP_ID', `--app-id is 1-100 characters of A-Z a-z 0-9 _ . -, got ${JSON.stringify(appId)}`, ExitCode.usage);
  }
  env.stateDir = options.state;
  env.appId = appId;
  if (options.checkpointInterval !== undefined) env.checkpointIntervalMs = options.checkpointInterval;
  return env;
}

/** Ends the job's sources early where the runtime can (records in flight still drain); else cancels it. */
function stopJob(job: RunningJob, env: StreamEnvironment): void {
  const graceful = (job as RunningJob & { stop?: () => void }).stop;
  if (typeof graceful === 'function') graceful.call(job);
  else void env.close();
}

function summary(result: JobResult): string {
  const list = (values: Record<string, number>) => Object.entries(values).map(([name, n]) => `${name} ${n}`).join(', ') || 'none';
  const base = `done · sources: ${list(result.sources)} · sinks: ${list(result.sinks)} · failures: ${result.failures}`;
  const c = result.checkpoints;
  return c ? `${base} · checkpoints: ${c.count} (last id ${c.lastId}), restarts: ${c.restarts}` : base;
}

interface MetricsHandle {
  address: string;
  attach(job: RunningJob): void;
  close(): Promise<void>;
}

async function startMetrics(env: StreamEnvironment, port: number, host: string): Promise<MetricsHandle> {
  const { startMetricsServer } = await import('../metrics/index.js');
  try {
    return await startMetricsServer({ env, port, host });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new CliError('ERR_PORT_UNAVAILABLE', `cannot listen on ${host}:${port} for metrics (${code})`, ExitCode.portUnavailable, { cause: error });
    }
    throw error;
  }
}
