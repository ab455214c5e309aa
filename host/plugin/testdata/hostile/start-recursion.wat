;; start-recursion.wat: a start function with no loop, only recursion that
;; calls itself twice (2^64 calls): the host's loop checks alone would not
;; stop it.
(module
  (memory (export "memory") 1)
  (func $twice (param $n i64)
    (if (i64.ne (local.get $n) (i64.const 0))
      (then
        (call $twice (i64.sub (local.get $n) (i64.const 1)))
        (call $twice (i64.sub (local.get $n) (i64.const 1))))))
  (func $start (call $twice (i64.const 64)))
  (func (export "staticlet_abi_version") (result i32) (i32.const 1))
  (func (export "staticlet_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "staticlet_validate") (param i32 i32) (result i64) (i64.const 0))
  (start $start))
