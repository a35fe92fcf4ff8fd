import { InvalidArgumentError } from '../../errors.js';
import { requireNonNegativeFinite } from './validate.js';
import type { TimeDomain } from './window-types.js';

/** The time options every time window shares, checked once. */
export interface TimeSettings {
  readonly processingTime: boolean;
  readonly allowedLatenessMs: number;
}

export function timeSettings(on: TimeDomain | undefined, allowedLatenessMs: number | undefined): TimeSettings {
  if (on !== undefined && on !== 'eventTime' && on !== 'processingTime') {
    throw new InvalidArgumentError(`on must be 'eventTime' or 'processingTime', got ${String(on)}`);
  }
  const processingTime = on === 'processingTime';
  const lateness = requireNonNegativeFinite('allowedLatenessMs', allowedLatenessMs ?? 0);
  if (processingTime && lateness > 0) {
    throw new InvalidArgumentError('allowedLatenessMs applies to event time only: in processing time no record is late');
  }
  return { processingTime, allowedLatenessMs: lateness };
}
