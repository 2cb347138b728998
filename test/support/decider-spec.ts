import { expect } from "vitest";
import { type Decider, fold } from "../../services/domain/shared/decider.js";
import { snapshotOf } from "./snapshot.js";
import { type DomainErrorKind, isDomainError, type DomainError, type OAuthErrorCode } from "../../services/domain/shared/errors.js";

/** What a rejection must look like; every given property must match. */
export interface ExpectedRejection {
  kind?: DomainErrorKind;
  oauthCode?: OAuthErrorCode;
  field?: string;
  message?: string | RegExp;
}

export interface DeciderThen<Event> {
  /** The command is accepted and produces exactly these events, in order. */
  then(expected: readonly Event[]): void;
  /** The command is rejected with a DomainError matching `expected` (any DomainError when omitted). */
  thenThrows(expected?: ExpectedRejection | ((error: DomainError) => boolean)): void;
  /** The command is accepted and appends nothing (an idempotent no-op). */
  thenNothing(): void;
}

export interface DeciderWhen<Command, Event> {
  when(command: Command): DeciderThen<Event>;
}

export interface DeciderSpec<Command, Event> {
  given(events: readonly Event[]): DeciderWhen<Command, Event>;
}

/**
 * Given/when/then over a decider (emmett's DeciderSpecification):
 * `decider(grantDecider).given([created]).when(revoke).then([revoked])`.
 * Every step also checks that `decide` left the given state untouched, since audit folds share states.
 */
export function decider<Command, Event, State>(spec: Decider<Command, Event, State>): DeciderSpec<Command, Event> {
  return {
    given: (events) => ({
      when: (command) => {
        const run = (): { events: Event[] } | { error: unknown } => {
          const state = fold(spec, events);
          const before = snapshotOf(state);
          let outcome: { events: Event[] } | { error: unknown };
          try {
            outcome = { events: spec.decide(command, state) };
          } catch (error) {
            outcome = { error };
          }
          expect(snapshotOf(state), "decide mutated the state it was given").toEqual(before);
          return outcome;
        };
        const accepted = (): Event[] => {
          const outcome = run();
          if ("error" in outcome) throw new Error("expected the command to be accepted, but it was rejected", { cause: outcome.error });
          // What decide emits must fold, or the aggregate would be unreadable after the append.
          fold(spec, outcome.events, fold(spec, events));
          return outcome.events;
        };
        return {
          then(expected) {
            if (typeof expected === "function") {
              throw new TypeError("a decider spec is not a promise: call .then(events) without awaiting it");
            }
            expect(accepted()).toEqual(expected);
          },
          thenNothing() {
            expect(accepted()).toEqual([]);
          },
          thenThrows(expected) {
            const outcome = run();
            if (!("error" in outcome)) {
              throw new Error(`expected a rejection, but decide returned ${JSON.stringify(outcome.events)}`);
            }
            const error = outcome.error;
            expect(isDomainError(error), `expected a DomainError, got ${String(error)}`).toBe(true);
            const domainError = error as DomainError;
            if (typeof expected === "function") {
              expect(expected(domainError), `predicate rejected ${domainError.kind}: ${domainError.message}`).toBe(true);
              return;
            }
            if (expected === undefined) return;
            const { message, ...fields } = expected;
            // Every key is present, so an expected `undefined` (e.g. "no oauthCode") is checked too.
            expect({ kind: domainError.kind, oauthCode: domainError.oauthCode, field: domainError.field }).toMatchObject(fields);
            if (message !== undefined) expect(domainError.message).toMatch(message);
          },
        };
      },
    }),
  };
}
