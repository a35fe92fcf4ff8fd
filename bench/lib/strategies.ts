/** Wait strategies by name, so a suite can tell a worker which one to attach its rings with. */
import { BusySpinStrategy, defaultWaitStrategy, type WaitStrategy } from '../../src/ring/index.js';

export type StrategyName = 'default' | 'busy';

export const STRATEGY_LABELS: Record<StrategyName, string> = {
  default: 'default spin-then-park',
  busy: 'busy spin (never parks)',
};

export function strategy(name: StrategyName): WaitStrategy {
  switch (name) {
    case 'default':
      return defaultWaitStrategy;
    case 'busy':
      return new BusySpinStrategy();
  }
}

/** The strategy's class and public settings (e.g. spin time), for results.json. */
export function describeStrategy(name: StrategyName): Record<string, unknown> {
  const s = strategy(name);
  const settings: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') settings[k] = v;
  return { name, class: s.constructor.name, ...settings };
}
