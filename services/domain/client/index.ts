export { clientDecider } from "./decider.js";
export { decideClient } from "./decide.js";
export { clientEventSchemas } from "./events.js";
export { evolveClient, initialClientState } from "./state.js";

export type {
  ClientCommand,
  DeleteClient,
  RegisterClient,
  ReinstateClient,
  RevokeClientTokens,
  RotateClientSecret,
  SuspendClient,
  UpdateClient,
} from "./commands.js";
export type { ClientEvent, ClientEventType } from "./events.js";
export type { ClientState, ClientStatus, ClientType } from "./state.js";
