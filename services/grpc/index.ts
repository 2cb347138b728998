export { SERVICE_NAMES, startGrpcServer } from "./server.js";
export { toServiceError } from "./status.js";
export { guardRpcs, observeRpcs } from "./handler.js";
export { CallerGate, certificateIdentity } from "./auth.js";

export type { GrpcServer } from "./server.js";
export type { ActiveToken, ClientView, Freshness, GrantView, ReadModel } from "./read-model.js";
export type { GrpcDeps } from "./services.js";
export type { RpcObserver } from "./handler.js";
export type { Caller, CallerGateOptions, IncomingCall } from "./auth.js";
