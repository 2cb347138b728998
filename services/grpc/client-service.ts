import { z } from "zod";
import {
  ClientStatus,
  ClientType,
  type Client,
  type ClientServiceServer,
} from "../gen/grantledger/v1/client_service.js";
import { notFound } from "../domain/shared/errors.js";
import { deleteClient, registerClient, reinstateClient, rotateClientSecret, suspendClient, updateClient } from "../commands/index.js";
import { ledgerId, minSequence, reason, redirectUri, requestId, requiredText, scopeList, text, uniqueTexts } from "./fields.js";
import { awaitSequence } from "./consistency.js";
import { unary } from "./handler.js";
import type { ClientView } from "./read-model.js";
import type { GrpcDeps } from "./services.js";

const registerSchemaWith = (maxRedirectUris: number) => z.object({
  requestId,
  ownerAccount: requiredText("owner_account", 128),
  name: requiredText("name", 200),
  redirectUris: uniqueTexts("redirect_uris", redirectUri, maxRedirectUris),
  allowedScopes: scopeList("allowed_scopes", 1),
  clientType: z
    .enum(ClientType)
    .refine((t) => t === ClientType.CLIENT_TYPE_CONFIDENTIAL || t === ClientType.CLIENT_TYPE_PUBLIC, "client_type must be CONFIDENTIAL or PUBLIC"),
});

const lifecycleSchema = z.object({ requestId, clientId: ledgerId("client_id"), reason });

const STATUS = { active: ClientStatus.CLIENT_STATUS_ACTIVE, suspended: ClientStatus.CLIENT_STATUS_SUSPENDED, deleted: ClientStatus.CLIENT_STATUS_DELETED };

export const toClientMessage = (c: ClientView): Client => ({
  clientId: c.clientId,
  ownerAccount: c.ownerAccount,
  name: c.name,
  redirectUris: [...c.redirectUris],
  allowedScopes: [...c.allowedScopes],
  clientType: c.clientType === "public" ? ClientType.CLIENT_TYPE_PUBLIC : ClientType.CLIENT_TYPE_CONFIDENTIAL,
  status: STATUS[c.status],
  createdAt: new Date(c.createdAt),
  updatedAt: new Date(c.updatedAt),
  sequence: c.seq,
});

/** UpdateClient's mask paths, as proto field names (camelCase accepted too). */
const MASKABLE = { name: "name", redirect_uris: "redirectUris", redirectUris: "redirectUris", allowed_scopes: "allowedScopes", allowedScopes: "allowedScopes" } as const;
type Maskable = (typeof MASKABLE)[keyof typeof MASKABLE];

export function clientService(deps: GrpcDeps): ClientServiceServer {
  const { logger, commands } = deps;
  const registerSchema = registerSchemaWith(deps.limits.maxRedirectUris);
  const rotateSchema = z.object({
    requestId,
    clientId: ledgerId("client_id"),
    overlapSeconds: z
      .number()
      .int()
      .min(0)
      .max(deps.limits.maxSecretOverlapSeconds, `overlap_seconds must be at most ${deps.limits.maxSecretOverlapSeconds}`)
      .optional(),
  });
  const updateSchema = z
    .object({
      requestId,
      clientId: ledgerId("client_id"),
      name: text("name", 200),
      redirectUris: uniqueTexts("redirect_uris", redirectUri, deps.limits.maxRedirectUris),
      allowedScopes: scopeList("allowed_scopes", 0),
      updateMask: z
        .array(z.string().refine((p) => Object.hasOwn(MASKABLE, p), "update_mask paths are name, redirect_uris, allowed_scopes"))
        .optional(),
    })
    .transform((v) => {
      const paths = v.updateMask === undefined || v.updateMask.length === 0 ? Object.keys(MASKABLE) : v.updateMask;
      const mask = new Set<Maskable>(paths.map((p) => MASKABLE[p as keyof typeof MASKABLE]));
      return {
        clientId: v.clientId,
        name: mask.has("name") ? v.name : undefined,
        redirectUris: mask.has("redirectUris") ? v.redirectUris : undefined,
        allowedScopes: mask.has("allowedScopes") ? v.allowedScopes : undefined,
      };
    });
  const lifecycle = (method: string, run: typeof suspendClient) =>
    unary(logger, method, lifecycleSchema, (input, ctx) => run(commands, ctx, input));
  return {
    registerClient: unary(logger, "RegisterClient", registerSchema, (input, ctx) =>
      registerClient(commands, ctx, {
        ownerAccount: input.ownerAccount,
        name: input.name,
        redirectUris: input.redirectUris,
        allowedScopes: input.allowedScopes,
        clientType: input.clientType === ClientType.CLIENT_TYPE_PUBLIC ? "public" : "confidential",
      }),
    ),
    getClient: unary(logger, "GetClient", z.object({ clientId: ledgerId("client_id"), minSequence }), async (input) => {
      await awaitSequence(deps.freshness, input.minSequence, deps.minSequenceWaitMs);
      const client = deps.readModel.getClient(input.clientId);
      if (client === undefined) throw notFound(`client ${input.clientId} not found`, { field: "client_id", oauthCode: "invalid_client" });
      return { client: toClientMessage(client) };
    }),
    listClients: unary(logger, "ListClients", z.object({ ownerAccount: requiredText("owner_account", 128), minSequence }), async (input) => {
      await awaitSequence(deps.freshness, input.minSequence, deps.minSequenceWaitMs);
      return { clients: deps.readModel.listClients(input.ownerAccount).map(toClientMessage) };
    }),
    suspendClient: lifecycle("SuspendClient", suspendClient),
    reinstateClient: lifecycle("ReinstateClient", reinstateClient),
    deleteClient: lifecycle("DeleteClient", deleteClient),
    rotateClientSecret: unary(logger, "RotateClientSecret", rotateSchema, async (input, ctx) => {
      const rotated = await rotateClientSecret(commands, ctx, { clientId: input.clientId, overlapSeconds: input.overlapSeconds ?? 0 });
      return {
        clientSecret: rotated.clientSecret,
        sequence: rotated.sequence,
        previousSecretExpiresAt: rotated.previousSecretExpiresAt === null ? undefined : new Date(rotated.previousSecretExpiresAt),
      };
    }),
    updateClient: unary(logger, "UpdateClient", updateSchema, (input, ctx) => updateClient(commands, ctx, input)),
  };
}
