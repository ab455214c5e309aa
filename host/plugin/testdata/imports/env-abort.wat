;; What an AssemblyScript module built without the SDK's abort mapping looks
;; like to the host: it imports env.abort.
(module
  (import "env" "abort" (func $abort (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (func (export "staticlet_abi_version") (result i32) (i32.const 1))
  (func (export "staticlet_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "staticlet_validate") (param i32 i32) (result i64)
    (call $abort (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 1))
    (i64.const 0)))
