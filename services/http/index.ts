export { startHttpServer } from "./server.js";
export { authorizationServerMetadata, PATHS } from "./metadata.js";

export type { HttpDeps, HttpObserver, HttpServer, HttpServerOptions } from "./server.js";
