// staticlet's AssemblyScript plugin SDK: JSON in and out, requests and
// results, handler registration and logging. A plugin registers its handlers
// from top-level code (which runs in the module's start function, under the
// host's call deadline) and re-exports the ABI from "./exports".
export { Kind, Value, parse, lastParseError, quote } from "./json";
export {
  ABI_VERSION, Request, Denial, Validation, Mutation, Naming, SettingsCheck,
  ValidateHandler, MutateHandler, NameHandler, SettingsHandler,
  onValidate, onMutate, onName, onSettings,
} from "./plugin";
export { Level, logAt, logTrace, logDebug, logInfo, logWarn, logError } from "./log";
