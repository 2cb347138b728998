/** The test harness's nats-server launcher is the one `npm start` uses. */
export { freePort, natsServerBinary, stablePort, startNatsServer } from "../../scripts/nats-server.js";
export type { NatsServer, NatsServerOptions } from "../../scripts/nats-server.js";
