import { RingflowError } from '../errors.js';
import type { OperatorFailure } from '../stream/index.js';

/** The service is closed, or its pipeline was changed after the first run. */
export class SageFlowStateError extends RingflowError {
  constructor(message: string) {
    super('ERR_SERVICE_STATE', message);
  }
}

/**
 * A push from another thread found the service's queue full (`queueMemory`) and its inbox full for
 * longer than the push timeout: the vector was not queued. Call run() more often, or give the
 * service more queueMemory or a longer `pushTimeoutMs`.
 */
export class SageFlowQueueFullError extends RingflowError {
  constructor(timeoutMs: number, options?: ErrorOptions) {
    super(
      'ERR_QUEUE_FULL',
      `the SageFlowService queue stayed full for ${timeoutMs} ms (queueMemory is used up and the inbox is full): the vector was not queued; run() takes the queue`,
      options,
    );
  }
}

/** The sink threw (or its promise rejected) during a run(): that run rejects with this; the others go on. */
export class SageFlowSinkError extends RingflowError {
  constructor(
    readonly sink: string,
    readonly failures: number,
    cause: unknown,
  ) {
    super(
      'ERR_SINK_FAILED',
      `sink '${sink}' threw on ${failures === 1 ? 'a vector' : `${failures} vectors`} in this run: ${(cause as Error)?.message ?? String(cause)}` +
        ' (the run delivered the rest; those vectors are not delivered again)',
      { cause },
    );
  }
}

/**
 * Operators threw on records of a run() and no `svc.env.onError` handler was set: the run rejects
 * with this once everything else in it has reached the sink. `failures` keeps the first 100.
 */
export class SageFlowRunError extends RingflowError {
  constructor(
    readonly failures: OperatorFailure[],
    readonly failureCount: number,
  ) {
    const first = failures[0]!;
    super(
      'ERR_OPERATOR_FAILED',
      `operator '${first.operator}' failed${first.key === undefined ? '' : ` on key ${first.key}`}: ${first.error.message}` +
        (failureCount > 1 ? ` (and ${failureCount - 1} more failures in this run)` : '') +
        '; the run delivered the rest; set svc.env.onError(handler) to take failed records and let runs resolve',
      { cause: first.error },
    );
  }
}

/**
 * close() did not finish within its timeout (a transform that never returns, a sink whose promise
 * never settles): the pipeline was cancelled and its threads terminated; what had not reached the
 * sink by then was not delivered.
 */
export class SageFlowCloseTimeoutError extends RingflowError {
  constructor(readonly timeoutMs: number) {
    super(
      'ERR_CLOSE_TIMEOUT',
      `SageFlowService.close() did not finish within ${timeoutMs} ms (an operator that never returns, or a sink whose promise never settles?): ` +
        'the pipeline was cancelled and its threads terminated; vectors that had not reached the sink were not delivered',
    );
  }
}
