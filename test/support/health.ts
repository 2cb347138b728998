import { credentials, makeGenericClientConstructor, type Client } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";

/** A standard grpc.health.v1 client. */
export interface HealthClient {
  /** "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN", ... for `service` ("" = the whole server). */
  check(service: string): Promise<string>;
  close(): void;
}

const STATUS_NAMES = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

export function connectHealth(address: string, deadlineMs = 5_000): HealthClient {
  const Ctor = makeGenericClientConstructor(healthService, "Health");
  const client = new Ctor(address, credentials.createInsecure()) as unknown as Client & {
    check(request: { service: string }, options: { deadline: Date }, callback: (error: Error | null, response?: { status: unknown }) => void): void;
  };
  return {
    check: (service) =>
      new Promise((resolve, reject) => {
        client.check({ service }, { deadline: new Date(Date.now() + deadlineMs) }, (error, response) => {
          if (error !== null) return reject(error);
          const status = response?.status;
          resolve(typeof status === "number" ? (STATUS_NAMES[status] ?? String(status)) : String(status));
        });
      }),
    close: () => client.close(),
  };
}
