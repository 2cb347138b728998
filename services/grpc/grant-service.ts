import { z } from "zod";
import { GrantStatus, type Grant, type GrantServiceServer } from "../gen/grantledger/v1/grant_service.js";
import { notFound, validationError } from "../domain/shared/errors.js";
import { createGrant, updateGrantScopes } from "../commands/index.js";
import { ledgerId, minSequence, requestId, requiredText, scopeList, uniqueTexts } from "./fields.js";
import { awaitSequence } from "./consistency.js";
import { unary } from "./handler.js";
import type { GrantView } from "./read-model.js";
import type { GrpcDeps } from "./services.js";

const TEN_YEARS_MS = 10 * 366 * 86_400_000;

const subject = requiredText("subject", 256);

const createSchemaWith = (maxScopes: number) => z.object({
  requestId,
  subject,
  clientId: ledgerId("client_id"),
  scopes: scopeList("scopes", 1, maxScopes),
  resources: uniqueTexts("resources", requiredText("resource", 256), 100),
  expiresAt: z.date().optional(),
});

const listSchema = z
  .object({
    subject: z.string().max(256),
    clientId: z.string().max(64),
    minSequence,
    includeInactive: z.boolean(),
  })
  .superRefine((v, ctx) => {
    if ((v.subject === "") === (v.clientId === "")) {
      ctx.addIssue({ code: "custom", path: ["subject"], message: "exactly one of subject and client_id is required" });
    }
  });

const STATUS = { active: GrantStatus.GRANT_STATUS_ACTIVE, revoked: GrantStatus.GRANT_STATUS_REVOKED, expired: GrantStatus.GRANT_STATUS_EXPIRED };

const toGrantMessage = (g: GrantView): Grant => ({
  grantId: g.grantId,
  subject: g.subject,
  clientId: g.clientId,
  clientName: g.clientName ?? "",
  scopes: [...g.scopes],
  resources: [...g.resources],
  createdAt: new Date(g.createdAt),
  expiresAt: g.expiresAt === null ? undefined : new Date(g.expiresAt),
  status: STATUS[g.status],
  statusReason: g.statusReason ?? "",
  sequence: g.seq,
});

export function grantService(deps: GrpcDeps): GrantServiceServer {
  const { logger } = deps;
  const createSchema = createSchemaWith(deps.limits.maxScopesPerGrant);
  const updateScopesSchema = z.object({ requestId, grantId: ledgerId("grant_id"), scopes: scopeList("scopes", 1, deps.limits.maxScopesPerGrant) });
  return {
    createGrant: unary(logger, "CreateGrant", createSchema, (input, ctx) => {
      const expiresAt = input.expiresAt?.getTime() ?? null;
      if (expiresAt !== null && (Number.isNaN(expiresAt) || expiresAt > ctx.now() + TEN_YEARS_MS)) {
        throw validationError("expires_at must be within ten years", { field: "expires_at", oauthCode: "invalid_request" });
      }
      return createGrant(deps.commands, ctx, { ...input, expiresAt });
    }),
    getGrant: unary(logger, "GetGrant", z.object({ grantId: ledgerId("grant_id"), minSequence }), async (input, ctx) => {
      await awaitSequence(deps.freshness, input.minSequence, deps.minSequenceWaitMs);
      const grant = deps.readModel.getGrant(input.grantId, ctx.now());
      if (grant === undefined) throw notFound(`grant ${input.grantId} not found`, { field: "grant_id", oauthCode: "invalid_grant" });
      return { grant: toGrantMessage(grant) };
    }),
    listGrants: unary(logger, "ListGrants", listSchema, async (input, ctx) => {
      await awaitSequence(deps.freshness, input.minSequence, deps.minSequenceWaitMs);
      const by = input.subject !== "" ? { subject: input.subject } : { clientId: input.clientId };
      const grants = deps.readModel.listGrants(by, { includeInactive: input.includeInactive, nowMs: ctx.now() });
      return { grants: grants.map(toGrantMessage) };
    }),
    updateGrantScopes: unary(logger, "UpdateGrantScopes", updateScopesSchema, async (input, ctx) => {
      const updated = await updateGrantScopes(deps.commands, ctx, input);
      return { sequence: updated.sequence, scopes: [...updated.scopes] };
    }),
  };
}
