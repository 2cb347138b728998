import type { ScopeCatalog } from "../domain/shared/scopes.js";
import type { Keyring } from "../crypto/keys.js";
import type { CommandDeps } from "./execute.js";
import type { Idempotency } from "./idempotency.js";

/** A token as the read model knows it, whatever its state: what revocation needs to find its grant. */
export interface KnownToken {
  readonly tokenId: string;
  readonly grantId: string;
  readonly clientId: string;
  readonly kind: "access_token" | "refresh_token";
  readonly familyId: string;
}

/** The read side the write side needs: revocation finds a token's grant by its hash. */
export interface TokenLookup {
  /** Resolves once the read model has applied every message the log held when called. */
  catchUpToHead(): Promise<void>;
  findToken(hash: string): KnownToken | undefined;
}

export interface TokenLimits {
  readonly accessTokenTtlSeconds: number;
  readonly refreshTokenTtlSeconds: number;
}

/** Everything the command handlers use; built once per process. */
export interface LedgerCommandDeps extends CommandDeps {
  readonly idempotency: Idempotency;
  readonly keyring: Keyring;
  readonly catalog: ScopeCatalog;
  readonly tokens: TokenLimits;
  readonly lookup: TokenLookup;
}
