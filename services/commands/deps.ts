import type { ClientState } from "../domain/client/state.js";
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

/** An authorization code as the read model knows it, redeemed or not: what redemption needs to find its grant. */
export interface KnownCode {
  readonly codeId: string;
  readonly grantId: string;
  readonly clientId: string;
}

/** The read side of code redemption (the read model; call `lookup.catchUpToHead()` before trusting a miss). */
export interface CodeLookup {
  findCode(hash: string): KnownCode | undefined;
}

/** Limits of the OAuth flows (services/config/config.ts documents each). */
export interface OAuthLimits {
  readonly authorizationCodeTtlSeconds: number;
  readonly clientCredentialsTtlSeconds: number;
  /** 0 turns the refresh grace period off (the default): any reuse revokes the family. */
  readonly refreshGraceSeconds: number;
  /** How many times one consumed refresh token may be answered with its successor within the grace period. */
  readonly refreshGraceMaxReuses: number;
  /** Longest overlap RotateClientSecret grants the previous secret. */
  readonly maxSecretOverlapSeconds: number;
}

/** What client authentication needs: checks a client's secret, rate-limiting failures per client. */
export interface ClientAuthentication {
  /**
   * Resolves when `secret` authenticates `client` (a public client must send none); throws DomainError
   * `unauthenticated` + `invalid_client` otherwise, or `resource_exhausted` while the client's budget of
   * failed checks is spent.
   */
  authenticate(client: ClientState, clientId: string, secret: string, now: number): Promise<void>;
}

/** The command deps plus what the OAuth flows (codes, refresh rotation, client credentials) need. */
export interface OAuthCommandDeps extends LedgerCommandDeps {
  readonly oauth: OAuthLimits;
  readonly codes: CodeLookup;
  readonly clientAuth: ClientAuthentication;
}
