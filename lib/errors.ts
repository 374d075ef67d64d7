/**
 * Every error that crosses the wire carries a stable `code`, a message that
 * names the field and the bad value, the `field` itself, and `retryable`.
 * Bad input ({@link InputError}) and wrong state ({@link StateError}) are
 * different classes. Add new codes here only: a test checks every code.
 */
export const ErrorCode = {
  /** The request body is not valid JSON. */
  InvalidJson: 'HEADROOM_ERR_INVALID_JSON',
  /** A field has the wrong type or an out-of-range value. */
  InvalidField: 'HEADROOM_ERR_INVALID_FIELD',
  /** A field that the schema does not know. */
  UnknownField: 'HEADROOM_ERR_UNKNOWN_FIELD',
  /** A required field is absent. */
  MissingField: 'HEADROOM_ERR_MISSING_FIELD',
  /** The payload is larger than the configured maximum. */
  PayloadTooLarge: 'HEADROOM_ERR_PAYLOAD_TOO_LARGE',
  /** Options or configuration are wrong (unknown key, bad value). */
  InvalidOptions: 'HEADROOM_ERR_INVALID_OPTIONS',
  /** A named thing (rule, token, model) does not exist. */
  NotFound: 'HEADROOM_ERR_NOT_FOUND',
  /** No live node hosts the service that owns this work. */
  NoOwner: 'HEADROOM_ERR_NO_OWNER',
  /** A call to another node did not answer in time. */
  Timeout: 'HEADROOM_ERR_TIMEOUT',
  /** An actor's message handler threw; the actor moved to its error state. */
  ActorFailed: 'HEADROOM_ERR_ACTOR_FAILED',
  /** The node is stopping or not yet started. */
  Unavailable: 'HEADROOM_ERR_UNAVAILABLE',
  /** A store could not accept or answer (after spooling, where that applies). */
  StoreFailed: 'HEADROOM_ERR_STORE_FAILED',
  /** The disk spool reached its bound; the batch was refused, not dropped. */
  SpoolFull: 'HEADROOM_ERR_SPOOL_FULL',
  /** A model could not run (bad shape, not trained). */
  ModelFailed: 'HEADROOM_ERR_MODEL_FAILED',
  /**
   * A refund named no take this owner issued (unknown, used or expired take
   * id, another token, or more than was taken): nothing was given back.
   */
  RefundRejected: 'HEADROOM_ERR_REFUND_REJECTED',
  /** The caller may not do this (e.g. a node speaking for another node). */
  NotPermitted: 'HEADROOM_ERR_NOT_PERMITTED',
  /** The HTTP request carries no bearer token, or one that matches no configured token. */
  Unauthorized: 'HEADROOM_ERR_UNAUTHORIZED',
  /** The bearer token is valid but does not allow this route (the read token on a route that changes state). */
  Forbidden: 'HEADROOM_ERR_FORBIDDEN',
  /** Anything else; a bug. */
  Internal: 'HEADROOM_ERR_INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  field?: string;
  retryable: boolean;
}

export interface HeadroomErrorInit {
  field?: string;
  value?: unknown;
  retryable?: boolean;
  cause?: unknown;
}

export class HeadroomError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly value: unknown;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, init: HeadroomErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.code = code;
    this.field = init.field;
    this.value = init.value;
    this.retryable = init.retryable ?? false;
  }

  /** The JSON shape sent to clients: `{code, message, field?, retryable}`. */
  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message, retryable: this.retryable };
    if (this.field !== undefined) body.field = this.field;
    return body;
  }
}

/** The caller sent something wrong; retrying the same input fails again. */
export class InputError extends HeadroomError {}

/** The system is not in a state to answer (stopping, owner gone); may be retried. */
export class StateError extends HeadroomError {
  constructor(code: ErrorCode, message: string, init: HeadroomErrorInit = {}) {
    super(code, message, { retryable: true, ...init });
  }
}

/** Renders a value for an error message: short, JSON where possible. */
export function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  let s: string;
  try {
    s = JSON.stringify(value) ?? String(value);
  } catch {
    s = String(value);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** `field must be <expected>, got <value>` as an {@link InputError}. */
export function invalidField(field: string, expected: string, value: unknown): InputError {
  return new InputError(ErrorCode.InvalidField, `${field} must be ${expected}, got ${show(value)}`, {
    field,
    value,
  });
}

/** `field is required (<expected>)` as an {@link InputError}. */
export function missingField(field: string, expected: string): InputError {
  return new InputError(ErrorCode.MissingField, `${field} is required (${expected})`, { field });
}

/** Turns anything thrown into a HeadroomError, keeping the original as `cause`. */
export function toHeadroomError(err: unknown): HeadroomError {
  if (err instanceof HeadroomError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new HeadroomError(ErrorCode.Internal, `internal error: ${message}`, { cause: err });
}

/** Rebuilds an error from its wire body (a reply from another node). */
export function fromBody(body: ErrorBody): HeadroomError {
  const init: HeadroomErrorInit = { retryable: body.retryable };
  if (body.field !== undefined) init.field = body.field;
  return body.retryable
    ? new StateError(body.code, body.message, init)
    : new InputError(body.code, body.message, init);
}
