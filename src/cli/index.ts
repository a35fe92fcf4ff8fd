// ringflow's command line: `ringflow run app.ts`, `ringflow demo`, `ringflow bench`.
export { runCli, processIO } from './program.js';
export { ExitCode, CliError } from './exit-codes.js';
export { loadApp, type AppBuilder } from './app-module.js';
export { ProgressReporter } from './progress.js';
