/** A service for examples/services.ts: lives in a pool worker, called from the main thread and from operators. */
export class Inventory {
  private readonly stock = new Map<string, number>();

  constructor(options?: { initial?: Record<string, number> }) {
    for (const [item, count] of Object.entries(options?.initial ?? {})) this.stock.set(item, count);
  }

  available(item: string): number {
    return this.stock.get(item) ?? 0;
  }

  reserve(item: string, count: number): boolean {
    const left = this.available(item);
    if (left < count) return false;
    this.stock.set(item, left - count);
    return true;
  }
}
