import { assertNever } from "../shared/decider.js";
import type { ClientEvent } from "./events.js";

export type ClientType = "confidential" | "public";
export type ClientStatus = "unregistered" | "active" | "suspended" | "deleted";

/**
 * A client as its events describe it. While `status` is "unregistered" the other fields hold
 * placeholders. Times are not here: client events carry none, the envelope does.
 */
export interface ClientState {
  readonly status: ClientStatus;
  readonly clientId: string;
  readonly ownerAccount: string;
  readonly name: string;
  readonly redirectUris: readonly string[];
  /** Normalized (sorted, unique). */
  readonly allowedScopes: readonly string[];
  readonly clientType: ClientType;
  readonly secretHash: string | null;
}

export const initialClientState: ClientState = {
  status: "unregistered",
  clientId: "",
  ownerAccount: "",
  name: "",
  redirectUris: [],
  allowedScopes: [],
  clientType: "public",
  secretHash: null,
};

export function evolveClient(state: ClientState, event: ClientEvent): ClientState {
  switch (event.type) {
    case "client.registered": {
      const { clientId, ownerAccount, name, redirectUris, allowedScopes, clientType, secretHash } = event.data;
      return { status: "active", clientId, ownerAccount, name, redirectUris, allowedScopes, clientType, secretHash };
    }
    case "client.suspended":
      return { ...state, status: "suspended" };
    case "client.reinstated":
      return { ...state, status: "active" };
    case "client.deleted":
      return { ...state, status: "deleted" };
    default:
      return assertNever(event, "client event");
  }
}
