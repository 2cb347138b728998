import type { Logger } from "pino";
import type { LedgerCommandDeps } from "../commands/index.js";
import type { Keyring } from "../crypto/keys.js";
import type { Freshness, ReadModel } from "./read-model.js";

/** What the gRPC services are built from. */
export interface GrpcDeps {
  readonly logger: Logger;
  readonly commands: LedgerCommandDeps;
  readonly readModel: ReadModel;
  readonly freshness: Freshness;
  readonly keyring: Keyring;
  readonly minSequenceWaitMs: number;
  readonly maxAccessTokenTtlSeconds: number;
}
