import type { IssuedToken } from "./events.js";

export type GrantStatus = "none" | "active" | "revoked";

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
  readonly tokens: ReadonlyMap<string, GrantToken>;
  readonly revokedFamilies: ReadonlySet<string>;
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
  tokens: new Map(),
  revokedFamilies: new Set(),
};
