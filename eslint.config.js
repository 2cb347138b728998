import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["services/gen/**", "node_modules/**", "data/**", ".tools/**", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      // Async methods implement promise-returning ports without awaiting anything themselves.
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // The domain is pure: no I/O modules, no ambient clock.
    files: ["services/domain/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: ["node:*", "@nats-io/*", "better-sqlite3", "@grpc/*", "pino"] },
      ],
      "no-restricted-properties": ["error", { object: "Date", property: "now", message: "commands carry `now`" }],
      "no-restricted-globals": ["error", "Buffer", "process", "crypto"],
    },
  },
  {
    files: ["eslint.config.js"],
    ...tseslint.configs.disableTypeChecked,
  },
);
