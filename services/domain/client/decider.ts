import type { Decider } from "../shared/decider.js";
import type { ClientCommand } from "./commands.js";
import { decideClient } from "./decide.js";
import type { ClientEvent } from "./events.js";
import { type ClientState, evolveClient, initialClientState } from "./state.js";

export const clientDecider: Decider<ClientCommand, ClientEvent, ClientState> = {
  initialState: initialClientState,
  decide: decideClient,
  evolve: evolveClient,
};
