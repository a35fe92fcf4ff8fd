import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * No native addon in the core, nor in any part a user imports: msgpackr's package root loads
 * msgpackr-extract (installed as its optional dependency) and makes it the string decoder of every
 * Unpackr in the process. Every folder of src/ is imported in a fresh process, which then reports
 * whether msgpackr took the native decoder and which `.node` files were loaded.
 */
describe('native addons', () => {
  it('none is loaded by importing any part of ringflow', async () => {
    const parts = readdirSync(new URL('../src', import.meta.url), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `./src/${e.name}/index.ts`);
    const script = `
      for (const part of ${JSON.stringify(['./src/index.ts', ...parts])}) await import(part);
      const { isNativeAccelerationEnabled } = await import('msgpackr/unpack');
      const { createRequire } = await import('node:module');
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((file) => file.endsWith('.node'));
      console.log(JSON.stringify({ isNativeAccelerationEnabled, loaded }));`;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, timeout: 60_000 });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({ isNativeAccelerationEnabled: false, loaded: [] });
  }, 90_000);
});
