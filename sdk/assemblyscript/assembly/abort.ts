// The abort mapping. AssemblyScript calls `abort` on a failed assert, an
// out-of-bounds access, an explicit `throw` and running out of memory, and by
// default imports it as `env.abort`, which the staticlet host does not
// provide (a plugin's only imports are `staticlet` and WASI preview 1). Built
// with `--use abort=staticletAbort` (asconfig.base.json sets it), the
// compiler calls this function instead: it writes the message and location
// to stderr, which the host quotes in the failure, and traps.

@external("wasi_snapshot_preview1", "fd_write")
declare function fdWrite(fd: u32, iovs: usize, iovsLen: u32, written: usize): u16;

// Static scratch space (iovec and the written count), so reporting an abort
// allocates only the message.
const scratch = memory.data(12);

// @ts-ignore: decorator
@global export function staticletAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let text = "abort: " + (message == null ? "(no message)" : message);
  if (fileName != null) {
    text += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  }
  text += "\n";
  const buf = String.UTF8.encode(text);
  store<u32>(scratch, changetype<usize>(buf));
  store<u32>(scratch + 4, buf.byteLength);
  fdWrite(2, scratch, 1, scratch + 8);
  unreachable();
}
