// The ABI's exports (docs/plugin-abi.md). A plugin's entry file re-exports
// them with one line, since only the entry file's exports become the
// module's:
//
//   export * from "staticlet-plugin-sdk/assembly/exports";
import {
  ABI_VERSION, allocRequest, registeredOperations,
  dispatchValidate, dispatchMutate, dispatchName, dispatchSettings,
} from "./plugin";

export function staticlet_abi_version(): i32 {
  return ABI_VERSION;
}

export function staticlet_alloc(size: i32): usize {
  return allocRequest(size);
}

export function staticlet_operations(): i32 {
  return registeredOperations();
}

export function staticlet_validate(ptr: usize, len: i32): i64 {
  return dispatchValidate(ptr, len);
}

export function staticlet_mutate(ptr: usize, len: i32): i64 {
  return dispatchMutate(ptr, len);
}

export function staticlet_name(ptr: usize, len: i32): i64 {
  return dispatchName(ptr, len);
}

export function staticlet_validate_settings(ptr: usize, len: i32): i64 {
  return dispatchSettings(ptr, len);
}
