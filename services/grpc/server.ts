import { Server, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { AuditServiceService } from "../gen/grantledger/v1/audit_service.js";
import { ClientServiceService } from "../gen/grantledger/v1/client_service.js";
import { GrantServiceService } from "../gen/grantledger/v1/grant_service.js";
import { IntrospectionServiceService } from "../gen/grantledger/v1/introspection_service.js";
import { RevocationServiceService } from "../gen/grantledger/v1/revocation_service.js";
import { TokenServiceService } from "../gen/grantledger/v1/token_service.js";
import { auditService } from "./audit-service.js";
import { clientService } from "./client-service.js";
import { grantService } from "./grant-service.js";
import { guardRpcs } from "./handler.js";
import { introspectionService } from "./introspection-service.js";
import { addReflection } from "./reflection.js";
import { revocationService } from "./revocation-service.js";
import type { GrpcDeps } from "./services.js";
import { tokenService } from "./token-service.js";

export const SERVICE_NAMES = [
  "grantledger.v1.ClientService",
  "grantledger.v1.GrantService",
  "grantledger.v1.TokenService",
  "grantledger.v1.IntrospectionService",
  "grantledger.v1.RevocationService",
  "grantledger.v1.AuditService",
] as const;

export interface GrpcServer {
  readonly server: Server;
  readonly health: HealthImplementation;
  /** The bound port (useful when asked for port 0). */
  readonly port: number;
  /** Stops accepting calls, lets in-flight ones finish for up to `graceMs`, then cuts the rest. */
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * Serves the five ledger services plus gRPC server reflection (so `buf curl --reflect` and
 * grpcurl work without the .proto files) and the standard health service.
 */
export async function startGrpcServer(deps: GrpcDeps, host: string, port: number): Promise<GrpcServer> {
  const server = new Server({ "grpc.max_receive_message_length": 1024 * 1024 });
  // Every wrapped RPC passes the caller gate (authentication, policy, rate limits) first.
  guardRpcs(deps.logger, deps.security.gate);
  if (deps.audit !== undefined) guardRpcs(deps.audit.logger, deps.security.gate);
  const add = (definition: ServiceDefinition, implementation: UntypedServiceImplementation): void =>
    server.addService(definition, implementation);
  // A process runs only its roles' services (services/app/ledger.ts); default all.
  const wanted = (name: (typeof SERVICE_NAMES)[number]): boolean => deps.services === undefined || deps.services.includes(name);
  if (wanted("grantledger.v1.ClientService")) add(ClientServiceService, clientService(deps));
  if (wanted("grantledger.v1.GrantService")) add(GrantServiceService, grantService(deps));
  if (wanted("grantledger.v1.TokenService")) add(TokenServiceService, tokenService(deps));
  if (wanted("grantledger.v1.IntrospectionService")) add(IntrospectionServiceService, introspectionService(deps));
  if (wanted("grantledger.v1.RevocationService")) add(RevocationServiceService, revocationService(deps));
  if (deps.audit !== undefined && wanted("grantledger.v1.AuditService")) add(AuditServiceService, auditService(deps.audit));

  addReflection(server);
  const served = SERVICE_NAMES.filter((name) => (name !== "grantledger.v1.AuditService" || deps.audit !== undefined) && wanted(name));
  const health = new HealthImplementation(Object.fromEntries(["", ...served].map((name) => [name, "SERVING"])));
  health.addToServer(server);

  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host.includes(":") ? `[${host}]` : host}:${port}`, deps.security.credentials, (error, p) =>
      error ? reject(error) : resolve(p),
    );
  });
  return {
    server,
    health,
    port: bound,
    shutdown: (graceMs = 5000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
