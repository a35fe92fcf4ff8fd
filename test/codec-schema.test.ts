import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const script = path.join(repoRoot, 'scripts', 'schema.mjs');
const committed = path.join(repoRoot, 'src', 'codec', 'generated');

/** Runs scripts/schema.mjs; resolves with its exit code and output instead of throwing on failure. */
async function schema(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [script, ...args], { cwd: repoRoot });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failure.code ?? -1, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' };
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    .sort();
}

describe('scripts/schema.mjs', () => {
  it('finds the committed generated code up to date (--check)', async () => {
    const result = await schema('--check');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  describe('into a scratch directory', () => {
    let outDir: string;
    beforeAll(async () => {
      outDir = await mkdtemp(path.join(tmpdir(), 'ringflow-schema-'));
    });
    afterAll(async () => {
      await rm(outDir, { recursive: true, force: true });
    });

    it('generates exactly the committed files, byte for byte (deterministic)', async () => {
      expect((await schema('--out', outDir)).code).toBe(0);
      const files = await listFiles(outDir);
      expect(files).toEqual(await listFiles(committed));
      expect(files).toContain('ringflow/wire/vector-record.ts');
      for (const file of files) {
        expect(await readFile(path.join(outDir, file), 'utf8'), file).toBe(await readFile(path.join(committed, file), 'utf8'));
      }
    });

    it('--check lists edited, missing and stale files and exits 1 without writing', async () => {
      expect((await schema('--out', outDir)).code).toBe(0);
      await writeFile(path.join(outDir, 'ringflow/wire/dtype.ts'), '// edited\n');
      await rm(path.join(outDir, 'ringflow/wire/envelope.ts'));
      await mkdir(path.join(outDir, 'old'), { recursive: true });
      await writeFile(path.join(outDir, 'old/gone.ts'), '// from a removed table\n');

      const result = await schema('--check', '--out', outDir);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('ringflow/wire/dtype.ts (differs)');
      expect(result.stderr).toContain('ringflow/wire/envelope.ts (missing)');
      expect(result.stderr).toContain('old/gone.ts (stale)');
      expect(await readFile(path.join(outDir, 'ringflow/wire/dtype.ts'), 'utf8')).toBe('// edited\n');
    });

    it('a normal run repairs the directory and removes stale files', async () => {
      await mkdir(path.join(outDir, 'old'), { recursive: true });
      await writeFile(path.join(outDir, 'old/gone.ts'), '// stale\n');
      expect((await schema('--out', outDir)).code).toBe(0);
      expect(await listFiles(outDir)).toEqual(await listFiles(committed));
      expect((await schema('--check', '--out', outDir)).code).toBe(0);
    });
  });

  it('rejects unknown arguments', async () => {
    const result = await schema('--bogus');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown argument --bogus');
  });
});
