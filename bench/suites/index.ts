/**
 * Every benchmark suite, in run order. To add one: write bench/suites/<name>.ts exporting a
 * `Suite` (see bench/lib/suite.ts) and append it here. A suite's `baselines` are run first when
 * the suite is selected by a filter.
 */
import type { Suite } from '../lib/suite.js';
import { browser } from './browser.js';
import { codecOps } from './codec-ops.js';
import { flow } from './flow.js';
import { metricsSuite } from './metrics.js';
import { postMessageOneWay } from './postmessage-oneway.js';
import { postMessageVector } from './postmessage-vector.js';
import { recordsSuite } from './records.js';
import { ringMinimal } from './ring-minimal.js';
import { ringOneWay } from './ring-oneway.js';
import { ringOps } from './ring-ops.js';
import { ringVector } from './ring-vector.js';
import { rttMain } from './rtt-main.js';
import { rttWorker } from './rtt-worker.js';
import { serveSuite } from './serve.js';
import { services } from './services.js';
import { state } from './state.js';
import { jetstreamSuite } from './jetstream.js';

export const suites: Suite[] = [
  ringOps,
  codecOps,
  postMessageOneWay,
  ringMinimal,
  ringOneWay,
  postMessageVector,
  ringVector,
  rttWorker,
  rttMain,
  services,
  flow,
  browser,
  state,
  jetstreamSuite,
  serveSuite,
  recordsSuite,
  metricsSuite,
];
