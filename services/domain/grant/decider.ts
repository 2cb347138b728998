import type { Decider } from "../shared/decider.js";
import type { GrantCommand } from "./commands.js";
import { decideGrant } from "./decide.js";
import type { GrantEvent } from "./events.js";
import { evolveGrant } from "./evolve.js";
import { type GrantState, initialGrantState } from "./state.js";

/** The grant and the tokens issued under it, on one subject so the log orders issue against revoke. */
export const grantDecider: Decider<GrantCommand, GrantEvent, GrantState> = {
  initialState: initialGrantState,
  decide: decideGrant,
  evolve: evolveGrant,
};
