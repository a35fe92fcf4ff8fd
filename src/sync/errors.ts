import { RingflowError } from '../errors.js';

/** `unlock()` was called on a mutex that is not locked (a double unlock, or an unlock without a lock). */
export class NotLockedError extends RingflowError {
  constructor(message = 'unlock() called on a mutex that is not locked') {
    super('ERR_NOT_LOCKED', message);
  }
}

/** A WaitGroup counter would drop below zero (more done() calls than add()ed work). */
export class NegativeCounterError extends RingflowError {
  constructor(message = 'WaitGroup counter would become negative') {
    super('ERR_NEGATIVE_COUNTER', message);
  }
}
