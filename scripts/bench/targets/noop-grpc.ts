/**
 * The baseline of the `introspect` benchmark: a grpc-js server with the very same service
 * definition (ts-proto codecs) whose Introspect does nothing but answer a fixed active response of
 * realistic size. `node --import tsx scripts/bench/targets/noop-grpc.ts <port>`
 */
import { Server, ServerCredentials } from "@grpc/grpc-js";
import {
  IntrospectionServiceService,
  type IntrospectionServiceServer,
  type IntrospectResponse,
} from "../../../services/gen/grantledger/v1/introspection_service.js";

const FIXED: IntrospectResponse = {
  active: true,
  scope: "account:read zone:read dns:read dns:edit offline_access",
  clientId: "cl_3fK9aQ2mZr7TxW1bYc8dEe",
  sub: "user-42",
  exp: 1_900_000_000,
  iat: 1_800_000_000,
  tokenType: "access_token",
  jti: "at_9xY2bQ7mKr3TzW1aPc8dEf",
  grantId: "gr_7hJ2kL9mNp4QrS6tUv8wXy",
  resources: ["acct-42"],
};

const implementation: IntrospectionServiceServer = {
  introspect: (_call, callback) => callback(null, FIXED),
  // The fixed answer once per token: a baseline for batch introspection's codec cost if one is wanted.
  introspectBatch: (call, callback) => callback(null, { results: call.request.tokens.map(() => FIXED) }),
};

const server = new Server({ "grpc.max_receive_message_length": 1024 * 1024 });
server.addService(IntrospectionServiceService, implementation);
server.bindAsync(`127.0.0.1:${process.argv[2] ?? "0"}`, ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  process.stdout.write(`listening ${port}\n`);
});
process.once("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
