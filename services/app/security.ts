import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ServerCredentials } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Config } from "../config/config.js";
import type { Keyring } from "../crypto/keys.js";
import { CallerGate } from "../grpc/auth.js";
import { ApiKeyVerifier } from "../security/api-keys.js";
import { Policy } from "../security/policy.js";

/** How the gRPC port authenticates and authorizes its callers. */
export interface ServingSecurity {
  readonly credentials: ServerCredentials;
  readonly gate: CallerGate;
  /** For the start-up log line: `insecure-dev`, `tls` (API keys only) or `mtls`. */
  readonly mode: "insecure-dev" | "tls" | "mtls";
}

/** `<dataDir>/callers.json` unless GL_CALLERS_FILE says otherwise. */
export const callersFile = (config: Config): string => config.callersFile ?? join(config.dataDir, "callers.json");

/** GL_POLICY_FILE, else `<dataDir>/policy.json` when it exists. */
export const policyFile = (config: Config): string | undefined => {
  if (config.policyFile !== undefined) return config.policyFile;
  const file = join(config.dataDir, "policy.json");
  return existsSync(file) ? file : undefined;
};

/**
 * Refuses to serve without caller authentication unless `--insecure-dev` (which config already
 * restricts to loopback); call before starting anything.
 */
export function assertServingMode(config: Config): void {
  if (!config.insecureDev && config.tlsCertFile === undefined) {
    throw new Error(
      "refusing to serve gRPC without caller authentication: set GL_TLS_CERT and GL_TLS_KEY (and GL_TLS_CLIENT_CA for mTLS; " +
        "`grant-ledger certs dev` makes a dev set), or pass --insecure-dev (GL_INSECURE_DEV=1) on 127.0.0.1",
    );
  }
}

export function servingSecurity(config: Config, keyring: Keyring, logger: Logger): ServingSecurity {
  assertServingMode(config);
  const read = (file: string): Buffer => readFileSync(file);
  let credentials: ServerCredentials;
  let mode: ServingSecurity["mode"];
  if (config.tlsCertFile !== undefined && config.tlsKeyFile !== undefined) {
    const pair = { cert_chain: read(config.tlsCertFile), private_key: read(config.tlsKeyFile) };
    const clientCa = config.tlsClientCaFile === undefined ? null : read(config.tlsClientCaFile);
    // With a client CA, the TLS handshake itself refuses a peer without a certificate it signed.
    credentials = ServerCredentials.createSsl(clientCa, [pair], clientCa !== null);
    mode = clientCa === null ? "tls" : "mtls";
  } else {
    credentials = ServerCredentials.createInsecure();
    mode = "insecure-dev";
  }
  const policyPath = policyFile(config);
  const policy = policyPath === undefined ? undefined : Policy.load(policyPath);
  if (policy === undefined && !config.insecureDev) {
    logger.warn("no authorization policy (GL_POLICY_FILE or <dataDir>/policy.json): every RPC is denied");
  }
  const gate = new CallerGate({
    insecureDev: config.insecureDev,
    apiKeys: new ApiKeyVerifier(callersFile(config), keyring, {
      onError: (error) => logger.error({ err: error }, "callers file unreadable; keeping the API keys loaded before"),
    }),
    ...(policy === undefined ? {} : { policy }),
    rates: {
      introspect: { perSecond: config.introspectRatePerSecond, burst: config.introspectBurst },
      secretChecks: { perSecond: config.secretCheckRatePerSecond, burst: config.secretCheckBurst },
    },
    logger,
  });
  return { credentials, gate, mode };
}
