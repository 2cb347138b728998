import { credentials, Metadata, type CallOptions, type ChannelCredentials, type Client, type ServiceError } from "@grpc/grpc-js";
import {
  AuditServiceClient,
  type AuditEvent,
  type ReplayEventsRequest,
  type ReplayEventsResponse,
} from "../../services/gen/grantledger/v1/audit_service.js";
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

/** Adds the connection's own metadata (its API key) to a call's. */
function withDefaults(metadata: Metadata, defaults: Metadata | undefined): Metadata {
  if (defaults === undefined) return metadata;
  const merged = metadata.clone();
  for (const [key, value] of Object.entries(defaults.getMap())) if (merged.get(key).length === 0) merged.set(key, value);
  return merged;
}

function promised<T extends Client>(client: T, deadlineMs: number, defaults?: Metadata): Promised<T> {
  return new Proxy({} as Promised<T>, {
    get(_target, name: string) {
      const method = (client as unknown as Record<string, UnaryMethod<unknown, unknown>>)[name];
      if (typeof method !== "function") return undefined;
      return (request: unknown, metadata = new Metadata()) =>
        new Promise((resolve, reject) => {
          method.call(client, request, withDefaults(metadata, defaults), { deadline: Date.now() + deadlineMs }, (error, response) =>
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
  /** Unary AuditService RPCs; ReplayEvents (server streaming) through {@link replay} / {@link replayStream}. */
  readonly audit: Promised<AuditServiceClient>;
  /** ReplayEvents to the end: every streamed event, or the call's ServiceError. */
  replay(request: ReplayEventsRequest, metadata?: Metadata): Promise<AuditEvent[]>;
  /** ReplayEvents as it streams (for `follow`): iterate, then `cancel()`. */
  replayStream(request: ReplayEventsRequest, metadata?: Metadata): ReplayStream;
  close(): void;
}

export interface ReplayStream extends AsyncIterable<ReplayEventsResponse> {
  cancel(): void;
}

/** How a test connects: TLS (with a client certificate for mTLS) and/or an API key. */
export interface ClientSecurity {
  /** PEM: the CA that signed the server's certificate, and the client's own certificate and key. */
  readonly tls?: { readonly ca: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
  /** Sent as `authorization: Bearer <apiKey>` on every call. */
  readonly apiKey?: string;
}

export function connectClients(address: string, deadlineMs = 10_000, security: ClientSecurity = {}): LedgerClients {
  const { tls, apiKey } = security;
  const creds: ChannelCredentials =
    tls === undefined ? credentials.createInsecure() : credentials.createSsl(tls.ca, tls.key ?? null, tls.cert ?? null);
  let defaults: Metadata | undefined;
  if (apiKey !== undefined) {
    defaults = new Metadata();
    defaults.set("authorization", `Bearer ${apiKey}`);
  }
  const clients = new ClientServiceClient(address, creds);
  const channelOverride = clients.getChannel();
  const options = { channelOverride };
  const grants = new GrantServiceClient(address, creds, options);
  const tokens = new TokenServiceClient(address, creds, options);
  const introspection = new IntrospectionServiceClient(address, creds, options);
  const revocation = new RevocationServiceClient(address, creds, options);
  const audit = new AuditServiceClient(address, creds, options);
  const replayStream = (request: ReplayEventsRequest, metadata = new Metadata()): ReplayStream => {
    const call = audit.replayEvents(request, withDefaults(metadata, defaults));
    return {
      cancel: () => call.cancel(),
      [Symbol.asyncIterator]: () => (call as AsyncIterable<ReplayEventsResponse>)[Symbol.asyncIterator](),
    };
  };
  return {
    clients: promised(clients, deadlineMs, defaults),
    grants: promised(grants, deadlineMs, defaults),
    tokens: promised(tokens, deadlineMs, defaults),
    introspection: promised(introspection, deadlineMs, defaults),
    revocation: promised(revocation, deadlineMs, defaults),
    audit: promised(audit, deadlineMs, defaults),
    replayStream,
    async replay(request, metadata) {
      const events: AuditEvent[] = [];
      for await (const response of replayStream(request, metadata)) {
        if (response.event !== undefined) events.push(response.event);
        events.push(...response.events);
      }
      return events;
    },
    close: () => clients.close(),
  };
}

/** Metadata naming the caller (recorded as the actor of appended events). */
export function actor(name: string): Metadata {
  const metadata = new Metadata();
  metadata.set("x-actor", name);
  return metadata;
}
