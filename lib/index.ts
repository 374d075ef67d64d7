// Entry file of lib/: pure domain code, no Moleculer, no I/O.
// Values first, then types. Other folders import this file, never deep paths.
export { SystemClock, SimulatedClock } from './clock.ts';
export {
  ErrorCode,
  HeadroomError,
  InputError,
  StateError,
  show,
  invalidField,
  toHeadroomError,
  fromBody,
} from './errors.ts';

export type { Clock, TimerHandle } from './clock.ts';
export type { ErrorBody, HeadroomErrorInit } from './errors.ts';
