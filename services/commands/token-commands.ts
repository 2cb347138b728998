import { clientDecider, initialClientState, type ClientState } from "../domain/client/index.js";
import { grantDecider, type GrantState, type IssuedToken } from "../domain/grant/index.js";
import { subjectDecider } from "../domain/subject/index.js";
import { hashToken } from "../crypto/keys.js";
import { mintId, mintToken } from "../crypto/mint.js";
import type { Loaded } from "./aggregate-store.js";
import type { LedgerCommandDeps } from "./deps.js";
import { execute, type CommandContext } from "./execute.js";
import { idempotentMinting } from "./idempotent.js";

export interface IssueTokensInput {
  readonly grantId: string;
  readonly scopes: readonly string[];
  readonly includeRefreshToken: boolean;
  readonly accessTokenTtlSeconds?: number | undefined;
}

export interface IssueTokensResult {
  readonly accessToken: string;
  /** Empty when no refresh token was issued. */
  readonly refreshToken: string;
  readonly expiresIn: number;
  readonly accessTokenId: string;
  readonly refreshTokenId: string;
  readonly scopes: readonly string[];
  readonly sequence: number;
}

interface MintedPair {
  readonly access: { token: string; id: string };
  readonly refresh: { token: string; id: string } | null;
}

const mintPair = (withRefresh: boolean): MintedPair => ({
  access: { token: mintToken("access_token"), id: mintId("at") },
  refresh: withRefresh ? { token: mintToken("refresh_token"), id: mintId("rt") } : null,
});

/**
 * The client and the grant's subject watermark: what every flow issuing under a grant decides with.
 * The client is the grant's own unless `clientId` names the (authenticated) caller, which the
 * decider then checks against the grant.
 */
export async function loadIssuingContext(
  deps: LedgerCommandDeps,
  grant: GrantState,
  loadedGrant: Loaded<GrantState>,
  clientId: string = grant.clientId,
): Promise<{ client: ClientState; subjectRevokedAt: number | null }> {
  if (grant.status === "none") return { client: initialClientState, subjectRevokedAt: null };
  const [client, subjectRevokedAt] = await Promise.all([
    deps.aggregates.load({ kind: "client", id: clientId }, clientDecider).then((l) => l.state),
    deps.aggregates.load({ kind: "subject", id: grant.subject }, subjectDecider).then((l) =>
      // The watermark covers the grants recorded before it in the log, as the read model
      // decides (created_seq <= revoked_seq), not those whose clock reading is earlier:
      // a grant created in the same millisecond after a RevokeSubject, or on a command
      // service whose clock lags, is live. Every subject event is a revocation, so the
      // subject's last sequence is its watermark.
      l.state.revokedAt !== null && l.version >= loadedGrant.firstVersion ? Math.max(l.state.revokedAt, grant.createdAt) : null,
    ),
  ]);
  return { client, subjectRevokedAt };
}

/**
 * Issues tokens under a grant. The tokens are minted before the append and kept sealed with the
 * request's idempotency record, so a retried request gets the very same tokens; only their keyed
 * hashes reach the log.
 */
export function issueTokens(deps: LedgerCommandDeps, ctx: CommandContext, input: IssueTokensInput): Promise<IssueTokensResult> {
  const mint = (): MintedPair => mintPair(input.includeRefreshToken);
  return idempotentMinting<IssueTokensResult, MintedPair>(deps, ctx, "IssueTokens", input, mint, async ({ key, minted }) => {
    const accessTtlMs = (input.accessTokenTtlSeconds ?? deps.tokens.accessTokenTtlSeconds) * 1000;
    const hash = (token: string): string => hashToken(deps.keyring.current, token);
    const outcome = await execute(deps, ctx, {
      aggregate: { kind: "grant", id: input.grantId },
      decider: grantDecider,
      msgId: key,
      build: async (grant, now, loadedGrant) => {
        const { client, subjectRevokedAt } = await loadIssuingContext(deps, grant, loadedGrant);
        return {
          type: "IssueTokens" as const,
          now,
          client,
          subjectRevokedAt,
          scopes: input.scopes,
          access: { tokenId: minted.access.id, hash: hash(minted.access.token), ttlMs: accessTtlMs },
          refresh:
            minted.refresh === null
              ? null
              : { tokenId: minted.refresh.id, hash: hash(minted.refresh.token), ttlMs: deps.tokens.refreshTokenTtlSeconds * 1000 },
        };
      },
    });
    const issued = outcome.events.flatMap((e) => (e.type === "token.issued" ? e.data.tokens : []));
    const access = issued.find((t: IssuedToken) => t.kind === "access_token");
    if (access === undefined) throw new Error("token.issued without an access token");
    return {
      accessToken: minted.access.token,
      refreshToken: minted.refresh?.token ?? "",
      expiresIn: Math.max(0, Math.round((access.expiresAt - access.issuedAt) / 1000)),
      accessTokenId: minted.access.id,
      refreshTokenId: minted.refresh?.id ?? "",
      scopes: access.scopes,
      sequence: outcome.seq,
    };
  });
}
