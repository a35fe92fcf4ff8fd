import { RingflowError } from '../errors.js';

/**
 * An HTTP request refused or failed: `status` is the response's status, `code` the stable code
 * of the JSON body `{ error: { code, message } }`.
 */
export class ServeError extends RingflowError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    /** Seconds, for a 429 (the Retry-After header). */
    readonly retryAfter?: number,
  ) {
    super(code, message);
  }

  body(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/** Stable codes of serve's error responses. */
export const ServeErrorCode = {
  BadJson: 'ERR_BAD_JSON',
  BadContentType: 'ERR_BAD_CONTENT_TYPE',
  BadRequest: 'ERR_BAD_REQUEST',
  BadRequestId: 'ERR_BAD_REQUEST_ID',
  Unauthorized: 'ERR_UNAUTHORIZED',
  Timeout: 'ERR_REQUEST_TIMEOUT',
  DuplicateId: 'ERR_DUPLICATE_ID',
  BodyTooLarge: 'ERR_BODY_TOO_LARGE',
  Busy: 'ERR_BUSY',
  OperatorFailed: 'ERR_OPERATOR_FAILED',
  ResultNotJson: 'ERR_RESULT_NOT_JSON',
  PipelineFailed: 'ERR_PIPELINE_FAILED',
  Closing: 'ERR_CLOSING',
  NotFound: 'ERR_NOT_FOUND',
  MethodNotAllowed: 'ERR_METHOD_NOT_ALLOWED',
  Internal: 'ERR_INTERNAL',
} as const;
