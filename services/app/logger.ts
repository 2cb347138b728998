import { pino, type Logger } from "pino";

/**
 * Paths pino censors wherever they appear: any field that could hold a token, code or secret.
 * Handlers never log payloads; this is the net under that rule.
 */
export const REDACT_PATHS = [
  "token",
  "*.token",
  "accessToken",
  "*.accessToken",
  "refreshToken",
  "*.refreshToken",
  "clientSecret",
  "*.clientSecret",
  "secret",
  "*.secret",
  "code",
  "*.code",
  "authorization",
  "*.authorization",
  "*.headers.authorization",
  "tokenHashKey",
  "*.tokenHashKey",
  "tokenHashOldKeys",
  "*.tokenHashOldKeys",
  "requestKey",
  "*.requestKey",
  "apiKey",
  "*.apiKey",
];

/** Structured JSON logs on stdout (or `destination`), secrets redacted. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: "grant-ledger" },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
