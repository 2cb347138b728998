/**
 * A pure aggregate: `decide` turns a command into events against the current state (or throws a
 * DomainError), `evolve` folds one event into the state. No I/O, no clock: commands carry `now`
 * and every id they need.
 */
export interface Decider<Command, Event, State> {
  readonly initialState: State;
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
}

/** Folds events over the decider's initial state. */
export const fold = <C, E, S>(decider: Decider<C, E, S>, events: Iterable<E>, from: S = decider.initialState): S => {
  let state = from;
  for (const event of events) state = decider.evolve(state, event);
  return state;
};

/** Compile-time exhaustiveness: a switch that forgets a case fails to compile here. */
export function assertNever(value: never, what = "value"): never {
  throw new Error(`unhandled ${what}: ${JSON.stringify(value)}`);
}
