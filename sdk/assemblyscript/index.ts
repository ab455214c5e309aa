// The package's entry for `import ... from "@staticlet/plugin-sdk"`: the
// AssemblyScript compiler resolves a package to its index.ts.
export * from "./assembly/index";
