// What fresh memory costs on this machine: SageFlowService's cold run (500 k dim-128 vectors, 256 MB
// held from push() to run()) can go no faster than first touching that much memory.
// npx tsc -p tsconfig.build.json && node dist/bench/_scratch/first-touch.js [MiB]
const mib = Number(process.argv[2] ?? 256);
const PAGE = 4096;
for (let round = 0; round < 3; round++) {
  const bytes = new Uint8Array(new SharedArrayBuffer(mib * 2 ** 20));
  const t0 = performance.now();
  for (let i = 0; i < bytes.length; i += PAGE) bytes[i] = 1;
  const t1 = performance.now();
  for (let i = 0; i < bytes.length; i += PAGE) bytes[i] = 2;
  const t2 = performance.now();
  bytes.fill(3);
  const t3 = performance.now();
  console.log(
    `${mib} MiB: first touch ${(t1 - t0).toFixed(0)} ms (${((t1 - t0) / mib).toFixed(2)} ms/MiB), ` +
      `second touch ${(t2 - t1).toFixed(1)} ms, fill of touched memory ${(t3 - t2).toFixed(0)} ms`,
  );
}
