import { RequestError } from "@nats-io/nats-core";
import { RequestOne } from "@nats-io/nats-core/internal";
import { describe, expect, it } from "vitest";
import { CANCELLED, shareRequestCancelError } from "../../../services/eventlog/request-cancel.js";

/** A RequestOne over a stand-in mux: only what `cancel` touches. */
function request(): { r: RequestOne; cancelledFromMux: () => number; settled: Promise<unknown> } {
  let fromMux = 0;
  const mux = { cancel: () => void fromMux++ } as unknown as ConstructorParameters<typeof RequestOne>[0];
  const r = new RequestOne(mux, "subject", { timeout: 60_000 }, false);
  // The deferred's rejection, as whoever awaited the request would see it.
  const settled = r.deferred.then(
    () => undefined,
    (error: unknown) => error,
  );
  return { r, cancelledFromMux: () => fromMux, settled };
}

describe("RequestOne.cancel with one shared error", () => {
  it("rejects with the one shared RequestError when given none, and still cancels timer and mux", async () => {
    shareRequestCancelError();
    shareRequestCancelError(); // installing twice wraps once
    const a = request();
    const b = request();
    a.r.cancel();
    b.r.cancel();
    expect(await a.settled).toBe(CANCELLED);
    expect(await b.settled).toBe(CANCELLED);
    expect(CANCELLED).toBeInstanceOf(RequestError);
    expect(CANCELLED.message).toBe("cancelled");
    expect(a.cancelledFromMux()).toBe(1);
  });

  it("passes a given error through unchanged", async () => {
    shareRequestCancelError();
    const { r, settled } = request();
    const error = new Error("publish failed");
    r.cancel(error);
    expect(await settled).toBe(error);
  });
});
