// The serve bench's CPU-bound task for the Piscina baseline (the same arithmetic as the suite's
// operator and inline handler). Plain JS, loaded by Piscina directly.
export default function score(body) {
  let s = body.x;
  for (let i = 0; i < body.iters; i++) s = Math.sqrt(s * s + i) * 0.999;
  return { id: body.id, score: s };
}
