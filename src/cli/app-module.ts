import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CliError, ExitCode } from './exit-codes.js';

/** What an app module exports by default: it builds its pipeline on the environment it is given. */
export type AppBuilder = (env: import('../stream/index.js').StreamEnvironment) => unknown;

let tsxRegistered = false;

/**
 * Loads `path` (relative to `cwd`) and returns its default export. TypeScript apps are loaded
 * through tsx (the development path); compiled `.js`/`.mjs` apps load as they are.
 */
export async function loadApp(path: string, cwd = process.cwd()): Promise<AppBuilder> {
  const file = resolve(cwd, path);
  if (!existsSync(file)) throw new CliError('ERR_APP_NOT_FOUND', `app module not found: ${file}`, ExitCode.moduleNotFound);
  if (/\.[mc]?tsx?$/.test(file) && !tsxRegistered) {
    let register: () => unknown;
    try {
      ({ register } = await import('tsx/esm/api'));
    } catch (error) {
      throw new CliError('ERR_APP_NEEDS_TSX', `${file} is TypeScript: install tsx (npm i -D tsx) or run the compiled .js`, ExitCode.moduleNotFound, { cause: error });
    }
    register();
    tsxRegistered = true;
  }
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (error) {
    throw new CliError('ERR_APP_LOAD_FAILED', `could not load ${file}: ${(error as Error)?.message ?? error}`, ExitCode.moduleNotFound, { cause: error });
  }
  if (typeof mod.default !== 'function') {
    throw new CliError(
      'ERR_APP_NO_DEFAULT_EXPORT',
      `${file} has no default export function; write \`export default (env) => { env.fromIterable(…).map(…).sink(…) }\``,
      ExitCode.badModule,
    );
  }
  return mod.default as AppBuilder;
}
