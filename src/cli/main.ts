// The `ringflow` command's process entry (bin/ringflow.mjs loads it).
import { processIO, runCli } from './program.js';

process.exitCode = await runCli(process.argv.slice(2), processIO());
