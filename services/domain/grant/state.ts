import { PersistentMap } from "../shared/persistent-map.js";
import type { IssuedToken } from "./events.js";

export type GrantStatus = "none" | "active" | "revoked";
/** "user": a user's consent; "client": the client's own grant, for client-credentials tokens. */
export type GrantKind = "user" | "client";

/** An authorization code issued under the grant. */
export interface GrantCode {
  readonly hash: string;
  readonly redirectUri: string;
  readonly codeChallenge: string | null;
  readonly scopes: readonly string[];
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** The family its redemption issued; null while unredeemed. */
  readonly redeemedFamily: string | null;
}

/** A refresh token consumed by a rotation. */
export interface Consumption {
  /** The refresh token that replaced it. */
  readonly by: string;
  /** Epoch milliseconds. */
  readonly at: number;
}

export interface GrantToken {
  readonly kind: IssuedToken["kind"];
  readonly familyId: string;
  readonly scopes: readonly string[];
  /** Epoch milliseconds. */
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly hash: string;
  /** Revoked on its own; a revoked family or grant deactivates it without setting this. */
  readonly revoked: boolean;
}

/** A grant and every token issued under it. While `status` is "none" the other fields hold placeholders. */
export interface GrantState {
  readonly status: GrantStatus;
  readonly grantId: string;
  readonly subject: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  readonly resources: readonly string[];
  readonly expiresAt: number | null;
  readonly createdAt: number;
  readonly revokedReason: string | null;
  /** Every token issued under the grant, never dropped: a persistent map, so adding one does not copy the rest. */
  readonly tokens: PersistentMap<GrantToken>;
  readonly revokedFamilies: ReadonlySet<string>;
  readonly kind: GrantKind;
  readonly codes: PersistentMap<GrantCode>;
  /** Refresh tokens rotated away, by token id. */
  readonly consumed: PersistentMap<Consumption>;
}

export const initialGrantState: GrantState = {
  status: "none",
  grantId: "",
  subject: "",
  clientId: "",
  scopes: [],
  resources: [],
  expiresAt: null,
  createdAt: 0,
  revokedReason: null,
  tokens: PersistentMap.empty(),
  revokedFamilies: new Set(),
  kind: "user",
  codes: PersistentMap.empty(),
  consumed: PersistentMap.empty(),
};
