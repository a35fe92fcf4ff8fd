/**
 * The `ringflow` command's exit codes: each failure kind has its own, so scripts and supervisors
 * can tell a bad command line from a broken app from a failed job.
 */
export const ExitCode = {
  ok: 0,
  /** The job ran and failed (an operator failure without a handler, a dead worker, …). */
  jobFailed: 1,
  /** Unknown flag, missing argument, a value that is not what the flag takes. */
  usage: 2,
  /** The app module does not exist or could not be loaded (syntax error, failed import). */
  moduleNotFound: 3,
  /** The app module loaded but its default export is not a function `(env) => …`. */
  badModule: 4,
  /** A port could not be listened on (in use, or not allowed). */
  portUnavailable: 5,
  /** A second Ctrl-C (or SIGTERM) forced the exit before the job had drained. */
  forced: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure the command reports in one line and turns into its exit code. */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: ExitCodeValue,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}
