import { RequestError } from "@nats-io/nats-core";
import { RequestOne } from "@nats-io/nats-core/internal";

/**
 * nats.js 3.4 ends every request, successful or not, with `RequestOne.cancel()`, which rejects the
 * request's (by then usually settled) promise with a fresh `RequestError("cancelled")`. Building
 * that Error captures a stack trace, async frames included, on every reply: measured on the
 * IssueTokens command path (in-process, 64 in flight, 5 requests per call, 3 alternating pairs)
 * 272–336 µs CPU per call without this, 222–262 µs with it; the single largest item in its profile
 * after socket writes. `connectEventLog` already turns off the other per-request traces
 * (`noAsyncTraces`); this one has no option.
 *
 * The wrapper keeps upstream's `cancel` as it is and only gives it one shared error to reject with
 * when it is called without one. That rejection is never observed: after a reply the promise is
 * already resolved, and after a timeout the caller's `Promise.race` has already settled with the
 * TimeoutError. A `cancel(error)` with an error passes it through unchanged.
 */
export const CANCELLED: Error = new RequestError("cancelled");

const PATCHED = Symbol.for("grant-ledger.request-cancel");

type Cancel = (this: RequestOne, err?: Error) => void;

/** Installs the wrapper once per process (idempotent); the event log calls it when it is loaded. */
export function shareRequestCancelError(): void {
  const proto = RequestOne.prototype as RequestOne & { [PATCHED]?: true };
  if (proto[PATCHED] === true) return;
  // Taken unbound on purpose: it is called with each request as `this`.
  const cancel: Cancel = Reflect.get<RequestOne, "cancel">(proto, "cancel");
  proto.cancel = function (this: RequestOne, err?: Error): void {
    cancel.call(this, err ?? CANCELLED);
  };
  proto[PATCHED] = true;
}
