import { credentials, Metadata, type CallOptions, type Client, type ServiceError } from "@grpc/grpc-js";
import { ClientServiceClient } from "../../services/gen/grantledger/v1/client_service.js";
import { GrantServiceClient } from "../../services/gen/grantledger/v1/grant_service.js";
import { IntrospectionServiceClient } from "../../services/gen/grantledger/v1/introspection_service.js";
import { RevocationServiceClient } from "../../services/gen/grantledger/v1/revocation_service.js";
import { TokenServiceClient } from "../../services/gen/grantledger/v1/token_service.js";

type Callback<Res> = (error: ServiceError | null, response: Res) => void;
type UnaryMethod<Req, Res> = (request: Req, metadata: Metadata, options: Partial<CallOptions>, callback: Callback<Res>) => unknown;

/** Promise form of a ts-proto grpc-js client: `await c.registerClient(req)` rejects with the ServiceError. */
export type Promised<T> = {
  [K in keyof T as T[K] extends UnaryMethod<infer _Req, infer _Res> ? K : never]: T[K] extends UnaryMethod<infer Req, infer Res>
    ? (request: Req, metadata?: Metadata) => Promise<Res>
    : never;
};

function promised<T extends Client>(client: T, deadlineMs: number): Promised<T> {
  return new Proxy({} as Promised<T>, {
    get(_target, name: string) {
      const method = (client as unknown as Record<string, UnaryMethod<unknown, unknown>>)[name];
      if (typeof method !== "function") return undefined;
      return (request: unknown, metadata = new Metadata()) =>
        new Promise((resolve, reject) => {
          method.call(client, request, metadata, { deadline: Date.now() + deadlineMs }, (error, response) =>
            error ? reject(error) : resolve(response),
          );
        });
    },
  });
}

/** Real gRPC clients over a socket, one channel shared by the five services. */
export interface LedgerClients {
  readonly clients: Promised<ClientServiceClient>;
  readonly grants: Promised<GrantServiceClient>;
  readonly tokens: Promised<TokenServiceClient>;
  readonly introspection: Promised<IntrospectionServiceClient>;
  readonly revocation: Promised<RevocationServiceClient>;
  close(): void;
}

export function connectClients(address: string, deadlineMs = 10_000): LedgerClients {
  const creds = credentials.createInsecure();
  const clients = new ClientServiceClient(address, creds);
  const channelOverride = clients.getChannel();
  const options = { channelOverride };
  const grants = new GrantServiceClient(address, creds, options);
  const tokens = new TokenServiceClient(address, creds, options);
  const introspection = new IntrospectionServiceClient(address, creds, options);
  const revocation = new RevocationServiceClient(address, creds, options);
  return {
    clients: promised(clients, deadlineMs),
    grants: promised(grants, deadlineMs),
    tokens: promised(tokens, deadlineMs),
    introspection: promised(introspection, deadlineMs),
    revocation: promised(revocation, deadlineMs),
    close: () => clients.close(),
  };
}

/** Metadata naming the caller (recorded as the actor of appended events). */
export function actor(name: string): Metadata {
  const metadata = new Metadata();
  metadata.set("x-actor", name);
  return metadata;
}
