;; start-loop.wat: a module whose start section loops forever. wazero runs a
;; start function inside instantiation, where no call deadline applies; the
;; host must run it under the deadline instead (host/plugin/hostile_test.go).
(module
  (memory (export "memory") 1)
  (func $forever (loop $again (br $again)))
  (func (export "staticlet_abi_version") (result i32) (i32.const 1))
  (func (export "staticlet_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "staticlet_validate") (param i32 i32) (result i64) (i64.const 0))
  (start $forever))
