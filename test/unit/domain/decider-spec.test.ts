import { describe, expect, it } from "vitest";
import { type Decider, illegalState } from "../../../services/domain/index.js";
import { decider } from "../../support/decider-spec.js";

/** A counter that may only go up to 2: enough to show the helper fails when it should. */
type Command = { type: "inc" } | { type: "noop" } | { type: "crash" } | { type: "mutate" };
type Event = { type: "incremented" };
type State = { count: number };
const counter: Decider<Command, Event, State> = {
  initialState: { count: 0 },
  decide(command, state) {
    if (command.type === "noop") return [];
    if (command.type === "crash") throw new TypeError("not a domain error");
    if (command.type === "mutate") {
      state.count = 99;
      return [];
    }
    if (state.count >= 2) throw illegalState("full", { field: "count", oauthCode: "invalid_request" });
    return [{ type: "incremented" }];
  },
  evolve: (state) => ({ count: state.count + 1 }),
};
const spec = decider(counter);
const inc = { type: "incremented" } as const;

describe("decider spec helper", () => {
  it("passes when the events match and fails when they do not", () => {
    spec.given([]).when({ type: "inc" }).then([inc]);
    expect(() => spec.given([]).when({ type: "inc" }).then([])).toThrow();
    expect(() => spec.given([]).when({ type: "inc" }).then([inc, inc])).toThrow();
  });

  it("fails then() when the command is rejected", () => {
    expect(() => spec.given([inc, inc]).when({ type: "inc" }).then([inc])).toThrow(/rejected/);
  });

  it("checks thenNothing()", () => {
    spec.given([]).when({ type: "noop" }).thenNothing();
    expect(() => spec.given([]).when({ type: "inc" }).thenNothing()).toThrow();
  });

  it("checks every given property of a rejection", () => {
    spec.given([inc, inc]).when({ type: "inc" }).thenThrows({ kind: "illegal_state", field: "count", oauthCode: "invalid_request", message: "full" });
    expect(() => spec.given([inc, inc]).when({ type: "inc" }).thenThrows({ kind: "validation" })).toThrow();
    expect(() => spec.given([inc, inc]).when({ type: "inc" }).thenThrows({ field: "other" })).toThrow();
    expect(() => spec.given([inc, inc]).when({ type: "inc" }).thenThrows({ oauthCode: "invalid_scope" })).toThrow();
    expect(() => spec.given([inc, inc]).when({ type: "inc" }).thenThrows({ oauthCode: undefined })).toThrow();
    expect(() => spec.given([inc, inc]).when({ type: "inc" }).thenThrows({ message: /empty/ })).toThrow();
  });

  it("checks a rejection predicate", () => {
    spec.given([inc, inc]).when({ type: "inc" }).thenThrows((error) => error.field === "count");
    expect(() => spec.given([inc, inc]).when({ type: "inc" }).thenThrows(() => false)).toThrow();
  });

  it("fails thenThrows() when the command is accepted or throws something other than a DomainError", () => {
    expect(() => spec.given([]).when({ type: "inc" }).thenThrows()).toThrow(/expected a rejection/);
    expect(() => spec.given([]).when({ type: "crash" }).thenThrows()).toThrow(/DomainError/);
  });

  it("fails when decide mutates the state it was given", () => {
    expect(() => spec.given([]).when({ type: "mutate" }).thenNothing()).toThrow(/mutated/);
  });

  it("refuses to be awaited like a promise", () => {
    const when = spec.given([]).when({ type: "inc" });
    expect(() => (when.then as unknown as (resolve: () => void) => void)(() => {})).toThrow(/not a promise/);
  });
});
