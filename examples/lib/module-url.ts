/**
 * The URL of a module beside an example, as the example itself runs: its source (`.ts`, through
 * tsx) or its build (`.js`, under dist/). A worker loads the module by this URL, so it must name
 * a file that exists.
 */
export function moduleBeside(exampleUrl: string, path: string): URL {
  return new URL(`${path}${exampleUrl.endsWith('.ts') ? '.ts' : '.js'}`, exampleUrl);
}
