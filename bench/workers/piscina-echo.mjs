// Trivial Piscina task for the round-trip baseline: returns its input. Plain JS, loaded by Piscina
// directly (no bootstrap, no tsx), so the baseline is Piscina's own cost.
export default function echo(x) {
  return x;
}
