export { SERVICE_NAMES, startGrpcServer } from "./server.js";
export { toServiceError } from "./status.js";
export { guardRpcs, observeRpcs } from "./handler.js";
export { CallerGate, certificateIdentity } from "./auth.js";
// The HTTP endpoints (services/http) answer with the same decisions.
export { assertFresh } from "./consistency.js";
export { tokenIntrospector } from "./introspection-service.js";

export type { GrpcServer } from "./server.js";
export type { ActiveToken, ClientView, Freshness, GrantView, ReadModel } from "./read-model.js";
export type { Staleness } from "./consistency.js";
export type { GrpcDeps } from "./services.js";
export type { RpcObserver } from "./handler.js";
export type { Caller, CallerGateOptions, IncomingCall } from "./auth.js";
