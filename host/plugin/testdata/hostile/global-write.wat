;; global-write.wat: an invalid module (assembled with wat2wasm --no-check)
;; that writes global 1 while it defines only global 0. After a rewrite that
;; appends globals, index 1 would name the host's interrupt flag: the host
;; must validate the module as uploaded and refuse it.
(module
  (memory (export "memory") 1)
  (global $mine (mut i32) (i32.const 0))
  (func (export "staticlet_abi_version") (result i32) (i32.const 1))
  (func (export "staticlet_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "staticlet_validate") (param i32 i32) (result i64)
    (global.set 1 (i32.const 0))
    (loop $again (br $again))
    (i64.const 0)))
