import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FileDecodeError, FileNotFoundError, fromFile, toFile, type FileSinkState } from '../src/connectors/index.js';
import type { OperatorFailure } from '../src/stream/index.js';
import { StreamEnvironment } from '../src/stream/index.js';
import { expectedLines, runSinkCheckpoints } from './fixtures/file-sink-records.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const root = mkdtempSync(path.join(tmpdir(), 'ringflow-files-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let folders = 0;
function folder(): string {
  const dir = path.join(root, String(++folders));
  mkdirSync(dir);
  return dir;
}
function tempFile(content: string | Buffer): string {
  const file = path.join(folder(), 'in');
  writeFileSync(file, content);
  return file;
}

interface Read {
  records: unknown[];
  positions: number[];
  batches: unknown[][];
  failures: OperatorFailure[];
}

async function readAll(source: ReturnType<typeof fromFile>): Promise<Read> {
  const read: Read = { records: [], positions: [], batches: [], failures: [] };
  for await (const batch of source.batches({ report: (f) => read.failures.push(f) })) {
    // 'lines' come packed (the workers decode them): unpacked here as a worker would.
    const records = [...(batch.packed ?? []).flatMap((p) => p.strings()), ...batch.records];
    read.records.push(...records);
    read.batches.push(records);
    read.positions.push(batch.position as number);
  }
  return read;
}

/** Where two lists of lines first differ, briefly (a diff of 400 long lines says nothing). */
function firstDifference(got: unknown[], expected: string[]): string {
  const n = Math.max(got.length, expected.length);
  for (let i = 0; i < n; i++) {
    if (got[i] !== expected[i]) return `at ${i} of ${got.length} (expected ${expected.length}): ${JSON.stringify(String(got[i]).slice(0, 60))} vs ${JSON.stringify(String(expected[i]).slice(0, 60))}`;
  }
  return 'none';
}

describe('fromFile', () => {
  it("reads 'jsonl', skipping blank lines, with CRLF and a last line without newline", async () => {
    const values = [{ a: 1 }, 'text', [1, 2], null, 3.5, { nested: { é: 'ü', emoji: '🎉' } }];
    const content = (values.map((v) => JSON.stringify(v)).join('\n') + '\n\n  \r\n' + JSON.stringify({ last: true })).replace('[1,2]\n', '[1,2]\r\n');
    const file = tempFile(content);
    // Tiny chunks: lines (and multi-byte characters) cross chunk boundaries.
    for (const chunkBytes of [1, 3, 7, 1 << 20]) {
      const read = await readAll(fromFile(file, { format: 'jsonl', chunkBytes, batchSize: 2 }));
      expect(read.records).toEqual([...values, { last: true }]);
      expect(read.failures).toEqual([]);
      expect(read.positions.at(-1)).toBe(Buffer.byteLength(content));
    }
  });

  it("reads 'lines' as strings (empty lines kept, '\\r' of CRLF dropped) and 'bytes' as chunks", async () => {
    const content = 'alpha\r\n\nbeta ünïcode\ngamma';
    const file = tempFile(content);
    const lines = await readAll(fromFile(file, { format: 'lines', chunkBytes: 4 }));
    expect(lines.records).toEqual(['alpha', '', 'beta ünïcode', 'gamma']);
    const bytes = await readAll(fromFile(file, { format: 'bytes', chunkBytes: 5, batchSize: 2 }));
    expect(Buffer.concat(bytes.records as Uint8Array[]).toString()).toBe(content);
    expect(bytes.records.every((r) => r instanceof Uint8Array && r.length <= 5)).toBe(true);
    expect(bytes.positions.at(-1)).toBe(Buffer.byteLength(content));
  });

  it("packs 'lines' where it reads them: any chunk and batch size, CRLF split across chunks, resumable at every position", async () => {
    // Random lines: empty ones, multi-byte characters, '\r' inside, CRLF and LF, no newline at the end.
    let seed = 7;
    const random = (n: number) => (seed = (seed * 16807) % 2147483647) % n;
    const alphabet = ['a', 'b', ' ', 'é', '🎉', '\r', '{', '"'];
    const line = (length: number) => Array.from({ length }, () => alphabet[random(alphabet.length)]).join('').replace(/\r+$/, '');
    const fileOf = (lines: string[]) => {
      const content = lines.map((l, i) => l + (i % 3 === 0 ? '\r\n' : '\n')).join('').replace(/\r?\n$/, '');
      return { file: tempFile(content), size: Buffer.byteLength(content) };
    };
    const short = Array.from({ length: 300 }, () => line(random(40)));
    // Long lines too: a piece of a batch is cut by its bytes as well as by its lines.
    const long = Array.from({ length: 3000 }, (_, i) => line(i % 500 === 0 ? 40_000 : random(60)));
    for (const [lines, chunkBytes, batchSize] of [
      [short, 1, 1],
      [short, 3, 2],
      [short, 5, 700],
      [long, 64, 4096],
      [long, 4096, 37],
      [long, 1 << 20, 1000],
    ] as const) {
      const { file, size } = fileOf(lines);
      const read = await readAll(fromFile(file, { format: 'lines', chunkBytes, batchSize }));
      const what = `chunkBytes ${chunkBytes}, batchSize ${batchSize}`;
      expect(firstDifference(read.records, lines), what).toBe('none');
      expect(read.batches.slice(0, -1).every((b) => b.length === batchSize), what).toBe(true);
      expect(read.positions.at(-1), what).toBe(size);
    }
    const { file } = fileOf(long);
    const whole = await readAll(fromFile(file, { format: 'lines', batchSize: 211, chunkBytes: 1000 }));
    let before = 0;
    for (const [b, position] of whole.positions.entries()) {
      before += whole.batches[b]!.length;
      const source = fromFile(file, { format: 'lines', batchSize: 600, chunkBytes: 3333 });
      source.seek(position);
      expect(firstDifference((await readAll(source)).records, long.slice(before)), `resumed at byte ${position}`).toBe('none');
    }
  });

  it('resumes after seek(position) at every batch boundary with exactly the records after it', async () => {
    const values = Array.from({ length: 100 }, (_, i) => ({ i, s: 'é'.repeat(i % 7) }));
    const file = tempFile(values.map((v) => JSON.stringify(v)).join('\n') + '\n');
    const whole = await readAll(fromFile(file, { format: 'jsonl', batchSize: 7, chunkBytes: 64, readAhead: 3 }));
    expect(whole.records).toEqual(values);
    let before = 0;
    for (const [b, position] of whole.positions.entries()) {
      before += whole.batches[b]!.length;
      const source = fromFile(file, { format: 'jsonl', batchSize: 5, chunkBytes: 50 });
      source.seek(position);
      const rest = await readAll(source);
      expect(rest.records, `resumed at byte ${position}`).toEqual(values.slice(before));
    }
    const atStart = fromFile(file); // 'jsonl' by default
    atStart.seek(whole.positions[3]);
    atStart.seek(undefined); // a rollback before any checkpoint: back to the start
    expect((await readAll(atStart)).records).toEqual(values);
  });

  it('reports a line that is not JSON (file, byte offset, line) and delivers the rest, also a torn last line', async () => {
    const content = '{"ok":1}\n{"bad":\n{"ok":2}\n{"torn":tr';
    const file = tempFile(content);
    const read = await readAll(fromFile(file, { format: 'jsonl' }));
    expect(read.records).toEqual([{ ok: 1 }, { ok: 2 }]);
    expect(read.failures.map((f) => [f.error.code, (f.error as FileDecodeError).offset, (f.error as FileDecodeError).line])).toEqual([
      ['ERR_FILE_DECODE', 9, 2],
      ['ERR_FILE_DECODE', 26, 4],
    ]);
    expect(read.failures[0]!.error).toBeInstanceOf(FileDecodeError);
    expect(read.failures[0]!.error.message).toContain(`'${file}' at byte 9 (line 2)`);
    expect(read.failures[1]!.record).toMatchObject({ path: file, offset: 26, text: '{"torn":tr' });
    // The position passes the bad lines: a resumed source does not report them again.
    expect(read.positions.at(-1)).toBe(content.length);
    const resumed = fromFile(file, { format: 'jsonl' });
    resumed.seek(17);
    const rest = await readAll(resumed);
    expect(rest.records).toEqual([{ ok: 2 }]);
    expect(rest.failures.map((f) => (f.error as FileDecodeError).line)).toEqual([undefined]); // a line number only when read from the start
  });

  it('refuses a missing file at start, naming its path, and bad options up front', async () => {
    const missing = path.join(root, 'no-such-file.jsonl');
    await expect(readAll(fromFile(missing, { format: 'jsonl' }))).rejects.toMatchObject({ code: 'ERR_FILE_NOT_FOUND', path: missing });
    await expect(readAll(fromFile(missing, { format: 'jsonl' }))).rejects.toBeInstanceOf(FileNotFoundError);
    expect(() => fromFile(missing, { format: 'csv' as 'jsonl' })).toThrow(/'jsonl', 'lines', 'bytes'/);
    expect(() => fromFile(missing, { format: 'jsonl', bachSize: 3 } as never)).toThrow(/unknown option 'bachSize' \(valid: format, batchSize, chunkBytes, readAhead, name\)/);
    expect(() => fromFile(missing, { format: 'jsonl', batchSize: 0 })).toThrow(/batchSize must be a positive integer/);
    expect(() => fromFile(missing, { format: 'jsonl' }).seek(-1)).toThrow(/byte offset/);
    const past = fromFile(tempFile('{}\n'), { format: 'jsonl' });
    past.seek(10);
    await expect(readAll(past)).rejects.toMatchObject({ code: 'ERR_FILE_READ' });
  });

  it('feeds a pipeline: lines parsed in the workers, bad JSON to onError, a missing file fails the job naming it', async () => {
    const orders = Array.from({ length: 5000 }, (_, i) => ({ user: `u${i % 13}`, amount: i }));
    const file = tempFile(orders.map((o) => JSON.stringify(o)).join('\n') + '\nnot json\n');
    const env = new StreamEnvironment({ workers: 2 });
    const totals = new Map<string, number>();
    const failures: OperatorFailure[] = [];
    env.onError((f) => void failures.push(f));
    env
      .from(fromFile<string>(file, { format: 'lines', batchSize: 256 }))
      .map((line: string) => JSON.parse(line) as { user: string; amount: number })
      .keyBy((o) => o.user)
      .map((o) => o)
      .sink((o) => void totals.set(o.user, (totals.get(o.user) ?? 0) + o.amount));
    await env.execute();
    await env.close();
    const expected = new Map<string, number>();
    for (const o of orders) expected.set(o.user, (expected.get(o.user) ?? 0) + o.amount);
    expect(totals).toEqual(expected);
    expect(failures.map((f) => f.error.name)).toEqual(['SyntaxError']);

    // Packed lines where a record must be looked at on the main thread (a key right at the source,
    // a timestamp extractor), or whose piece is larger than a ring's frame, go one by one; every
    // line arrives once, in order per key.
    const texts = Array.from({ length: 3000 }, (_, i) => `${i % 7}:${i}:${'é'.repeat(i % 5)}`);
    const textFile = tempFile(texts.join('\n'));
    const cases = [{}, { timestamp: (line: string) => Number(line.split(':')[1]) }, { ringCapacity: 1 << 12 }];
    for (const { timestamp, ringCapacity } of cases as { timestamp?: (line: string) => number; ringCapacity?: number }[]) {
      const keyed = new StreamEnvironment({ workers: 2, ...(ringCapacity ? { ringCapacity } : {}) });
      const got = new Map<string, string[]>();
      let lines = keyed.from(fromFile<string>(textFile, { format: 'lines', batchSize: 700 }), timestamp ? { timestamp } : undefined);
      if (ringCapacity) lines = lines.map((line) => line); // round-robin from the source, pieces too large for a frame
      lines
        .keyBy((line) => line.split(':')[0]!)
        .map((line) => line)
        .sink((line) => void got.set(line.split(':')[0]!, [...(got.get(line.split(':')[0]!) ?? []), line]));
      await keyed.execute();
      await keyed.close();
      // (Through two instances before the keyBy, a key's lines may pass each other: compared as sets there.)
      const inOrder = (list: string[] | undefined) => (ringCapacity ? [...(list ?? [])].sort() : list);
      for (let k = 0; k < 7; k++) expect(inOrder(got.get(String(k)))).toEqual(inOrder(texts.filter((t) => t.startsWith(`${k}:`))));
    }

    const missing = new StreamEnvironment({ workers: 1 });
    missing.from(fromFile(path.join(root, 'gone.jsonl'), { format: 'jsonl' })).sink(() => {});
    await expect(missing.execute()).rejects.toThrow(/gone\.jsonl/);
    await missing.close();
  }, 30_000);
});

function lines(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return text === '' ? [] : text.replace(/\n$/, '').split('\n');
}

describe('toFile', () => {
  it('without checkpoints writes straight through (replacing the file unless append), in both formats', async () => {
    const dir = folder();
    const target = path.join(dir, 'out.jsonl');
    writeFileSync(target, 'old\n');
    const sink = toFile(target, { format: 'jsonl', bufferBytes: 16 });
    await sink.open();
    for (let i = 0; i < 100; i++) await sink.write({ i, text: 'é' });
    await sink.flush();
    expect(lines(target)).toHaveLength(100);
    await sink.write({ i: 100 });
    await sink.close();
    expect(lines(target).map((l) => JSON.parse(l).i)).toEqual(Array.from({ length: 101 }, (_, i) => i));

    const appended = toFile(target, { format: 'lines', append: true });
    await appended.open();
    appended.write('plain line');
    await appended.close();
    expect(lines(target).at(-1)).toBe('plain line');
    expect(lines(target)).toHaveLength(102);

    const empty = toFile(target, { format: 'lines' });
    await empty.open();
    await empty.close();
    expect(readFileSync(target, 'utf8')).toBe('');
  });

  it('refuses records without a form in their format, and bad options, with coded errors', async () => {
    const dir = folder();
    const jsonl = toFile(path.join(dir, 'a'), { format: 'jsonl' });
    expect(() => jsonl.write(undefined)).toThrow(expect.objectContaining({ code: 'ERR_FILE_WRITE' }));
    expect(() => jsonl.write(10n)).toThrow(/no JSON form/);
    const text = toFile<unknown>(path.join(dir, 'b'), { format: 'lines' });
    expect(() => text.write(42)).toThrow(/takes strings/);
    expect(() => text.write('two\nlines')).toThrow(/cannot hold/);
    expect(() => toFile(path.join(dir, 'c'), { format: 'jsonl', apend: true } as never)).toThrow(/unknown option 'apend' \(valid: format, append, bufferBytes, name\)/);
    await expect(toFile(path.join(dir, 'no/such/folder/out'), { format: 'jsonl' }).open()).rejects.toMatchObject({ code: 'ERR_FILE_WRITE' });
  });

  it('fed by operators, encodes lines on the workers: order, non-ASCII text, both formats; a record without a JSON form is reported under the sink', async () => {
    const dir = folder();
    const records = Array.from({ length: 20_000 }, (_, i) => ({ i, text: i % 1000 === 7 ? `é${i}😀` : `t${i}` }));
    const run = async (format: 'jsonl' | 'lines') => {
      const target = path.join(dir, `out-${format}`);
      const env = new StreamEnvironment({ workers: 2 });
      const failures: OperatorFailure[] = [];
      env.onError((f) => void failures.push(f));
      const stream = env
        .fromIterable(records)
        .map((r: { i: number; text: string }) => r, { parallelism: 1 })
        .map((r: { i: number; text: string }) => (r.i === 4321 ? { ...r, big: 10n } : r), { parallelism: 1 });
      (format === 'jsonl' ? stream : stream.map((r) => JSON.stringify(r), { parallelism: 1 })).to(toFile<unknown>(target, { format }) as never);
      const plan = env.explain();
      await env.execute();
      await env.close();
      return { lines: lines(target), failures, plan };
    };
    const json = await run('jsonl');
    // The encoder joined the operators' chain on the workers: no stage of its own.
    expect(json.plan).toMatch(/worker ×1: map → map#2 → file:/);
    expect(json.failures).toHaveLength(1);
    expect(json.failures[0]).toMatchObject({ operator: `file:${path.join(dir, 'out-jsonl')}` });
    expect(json.failures[0]!.error.message).toMatch(/no JSON form.*BigInt/);
    const expected = records.filter((r) => r.i !== 4321).map((r) => JSON.stringify(r));
    expect(json.lines).toEqual(expected);
    // 'lines': the user's own JSON.stringify fails on that record first.
    const text = await run('lines');
    expect(text.failures.map((f) => f.operator)).toEqual(['map#3']);
    expect(text.lines).toEqual(expected);
  }, 30_000);

  it('transactional: output is invisible until commit, commits are idempotent, recover drops what no checkpoint covers', async () => {
    const dir = folder();
    const target = path.join(dir, 'out.jsonl');
    writeFileSync(target, 'from an earlier job\n');
    const sink = toFile(target, { format: 'jsonl' });
    await sink.open();
    await sink.recover(undefined);
    expect(readFileSync(target, 'utf8')).toBe(''); // a fresh job's output replaces the file
    for (let i = 0; i < 10; i++) sink.write({ i });
    await sink.flush();
    expect(readFileSync(target, 'utf8')).toBe('');
    const first = await sink.prepare(1);
    expect(first).toMatchObject({ offset: 0, bytes: 80 });
    expect(readdirSync(dir)).toContain(first.file);
    expect(readFileSync(target, 'utf8')).toBe('');
    for (let i = 10; i < 15; i++) sink.write({ i });
    const second = await sink.prepare(2); // before checkpoint 1 is committed
    expect(second).toMatchObject({ offset: 80, bytes: 45 });
    const empty = await sink.prepare(3);
    expect(empty).toEqual({ file: null, offset: 125, bytes: 0 });
    await sink.commit(2, second); // covers checkpoint 1 as well
    const committed = lines(target);
    expect(committed.map((l) => JSON.parse(l).i)).toEqual(Array.from({ length: 15 }, (_, i) => i));
    await sink.commit(2, second);
    await sink.commit(3, empty);
    expect(lines(target)).toEqual(committed);
    expect(readdirSync(dir).filter((n) => n.endsWith('.pending'))).toEqual([]);

    for (let i = 15; i < 20; i++) sink.write({ i });
    const uncommitted = await sink.prepare(4);
    sink.write({ i: 99 });
    await sink.close();
    // A new incarnation recovering checkpoint 3: checkpoint 4 and the rest are dropped.
    const again = toFile(target, { format: 'jsonl' });
    await again.open();
    await again.recover({ checkpointId: 3, state: empty });
    expect(lines(target)).toEqual(committed);
    expect(existsSync(path.join(dir, uncommitted.file!))).toBe(false);
    again.write({ i: 15 });
    const next = await again.prepare(4);
    expect(next.offset).toBe(125);
    await again.commit(4, next);
    // Recovering the same checkpoint twice (a crash after a finished commit) changes nothing.
    await again.recover({ checkpointId: 4, state: next });
    await again.recover({ checkpointId: 4, state: next });
    expect(lines(target).map((l) => JSON.parse(l).i)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    await again.close();
  });

  it('transactional: a committed checkpoint whose bytes are gone is a coded error, not silent loss', async () => {
    const dir = folder();
    const target = path.join(dir, 'out.jsonl');
    const sink = toFile(target, { format: 'jsonl' });
    await sink.open();
    await sink.recover(undefined);
    sink.write({ a: 1 });
    const state = (await sink.prepare(1)) as FileSinkState;
    await sink.commit(1, state);
    await sink.close();
    writeFileSync(target, '');
    const again = toFile(target, { format: 'jsonl' });
    await expect(again.recover({ checkpointId: 1, state })).rejects.toMatchObject({ code: 'ERR_FILE_COMMIT' });
    await expect(again.recover({ checkpointId: 1, state: { offset: 'x' } })).rejects.toMatchObject({ code: 'ERR_FILE_COMMIT' });
    await again.close();
    await expect(toFile(target, { format: 'jsonl' }).prepare(1)).rejects.toMatchObject({ code: 'ERR_FILE_WRITE' });
  });
});

const crasher = path.join(repoRoot, 'test/fixtures/file-sink-crasher.ts');

/** Runs the crasher to its end or to its self-inflicted SIGKILL; returns its exit and output. */
function runCrasher(dir: string, killAt: string, nth: number, last: number): Promise<{ signal: NodeJS.Signals | null; code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', crasher, dir, killAt, String(nth), String(last)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (code !== 0 && signal !== 'SIGKILL') reject(new Error(`crasher exited with ${code}: ${err}`));
      else resolve({ signal, code, out });
    });
  });
}

describe('toFile under kill -9', () => {
  const LAST = 4;
  // The step to die at, and at which occurrence (checkpoint 2 has a copy of more than one chunk).
  const scenarios: [string, number][] = [
    ['prepare:written', 2],
    ['prepare:synced', 2],
    ['prepare:folder-synced', 2],
    ['manifest:committed', 2],
    ['commit:partly-copied', 1],
    ['commit:copied', 2],
    ['commit:synced', 2],
    ['commit:unlinked', 2],
    ['commit:done', 2],
  ];

  it('holds every committed record exactly once when killed at each step of prepare and commit', async () => {
    const run = async ([killAt, nth]: [string, number]) => {
      const dir = folder();
      const killed = await runCrasher(dir, killAt, nth, LAST);
      expect(killed.signal, `${killAt}: killed`).toBe('SIGKILL');
      expect(killed.out).toContain(`step ${killAt}`);
      await runSinkCheckpoints(dir, LAST, () => {});
      expect(lines(path.join(dir, 'out.jsonl')), `killed at ${killAt}`).toEqual(expectedLines(LAST));
      // Only the never-committed tail of the last incarnation is left pending.
      expect(readdirSync(dir).filter((n) => n.endsWith('.pending')).length).toBeLessThanOrEqual(1);
    };
    // Two at a time: a 2-core box.
    for (let i = 0; i < scenarios.length; i += 2) await Promise.all(scenarios.slice(i, i + 2).map(run));
  }, 120_000);

  it('finishes an interrupted commit even when recovery itself is killed at each of its steps', async () => {
    const run = async (recoverStep: string) => {
      const dir = folder();
      expect((await runCrasher(dir, 'commit:partly-copied', 1, LAST)).signal).toBe('SIGKILL');
      const second = await runCrasher(dir, recoverStep, 1, LAST);
      expect(second.signal, `recovery killed at ${recoverStep}`).toBe('SIGKILL');
      expect(second.out).not.toContain('recovered');
      await runSinkCheckpoints(dir, LAST, () => {});
      expect(lines(path.join(dir, 'out.jsonl')), `recovery killed at ${recoverStep}`).toEqual(expectedLines(LAST));
    };
    const steps = ['commit:partly-copied', 'commit:synced', 'recover:applied', 'recover:truncated', 'recover:cleaned'];
    for (let i = 0; i < steps.length; i += 2) await Promise.all(steps.slice(i, i + 2).map(run));
  }, 120_000);
});
