export { startHttpServer } from "./server.js";
export { authorizationServerMetadata, PATHS } from "./metadata.js";

export type { HttpDeps, HttpServer, HttpServerOptions } from "./server.js";
