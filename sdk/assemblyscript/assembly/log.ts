// Logging through the host: the `staticlet` module's `log` import writes
// into the agent's log, attributed to the plugin (rate-limited and escaped
// by the host, docs/plugin-abi.md).

@external("staticlet", "log")
declare function hostLog(level: i32, ptr: usize, len: i32): void;

/** Log levels of the `log` host function. */
export enum Level {
  Trace = 0,
  Debug = 1,
  Info = 2,
  Warn = 3,
  Error = 4,
}

/** Logs message at level into the agent's log. */
export function logAt(level: Level, message: string): void {
  const buf = String.UTF8.encode(message);
  hostLog(level, changetype<usize>(buf), buf.byteLength);
}

export function logTrace(message: string): void { logAt(Level.Trace, message); }
export function logDebug(message: string): void { logAt(Level.Debug, message); }
export function logInfo(message: string): void { logAt(Level.Info, message); }
export function logWarn(message: string): void { logAt(Level.Warn, message); }
export function logError(message: string): void { logAt(Level.Error, message); }
