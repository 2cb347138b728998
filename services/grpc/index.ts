export { SERVICE_NAMES, startGrpcServer } from "./server.js";
export { toServiceError } from "./status.js";

export type { GrpcServer } from "./server.js";
export type { ActiveToken, ClientView, Freshness, GrantView, ReadModel } from "./read-model.js";
export type { GrpcDeps } from "./services.js";
