/*
 * hostile.c: guests that try to escape their sandbox, one per -D flag, built
 * by the hostile suite (host/plugin/hostile_test.go) with Debian's clang:
 *
 *   clang --target=wasm32-wasi -mexec-model=reactor -O0 -DHOSTILE_<CASE>
 *
 * Each is written only from docs/plugin-abi.md, as a policy author would.
 * -O0 keeps the recursion as calls: an optimiser may turn some of it into
 * loops, which would hide the case under test.
 */
#include "../../../../plugins/c-example/staticlet_plugin.h"

/* Exponential recursion without a single loop: fib(90) takes centuries. */
__attribute__((unused, noinline)) static uint64_t fib(uint32_t n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

/* f(n) calls f(n-1) twice: 2^n calls, stack depth n. */
__attribute__((unused, noinline)) static uint64_t twice(uint32_t n) { return n == 0 ? 1 : twice(n - 1) + twice(n - 1); }

/* A host call per step of an endless recursion (depth bounded by the tail
 * of the recursion being cut at 64 and restarted). */
__attribute__((unused, noinline)) static void chatter(uint32_t n) {
	staticlet_host_log(STATICLET_TRACE, "x", 1);
	if (n < 64) {
		chatter(n + 1);
		chatter(n + 1);
	}
}

#if defined(HOSTILE_INIT_LOOP)
static volatile int spin = 1;
__attribute__((constructor)) static void forever(void) {
	while (spin)
		;
}
#elif defined(HOSTILE_INIT_RECURSION)
__attribute__((constructor)) static void forever(void) { (void)twice(200); }
#endif

STATICLET_EXPORT("staticlet_validate") uint64_t staticlet_validate(uint32_t ptr, uint32_t len) {
	(void)ptr;
	(void)len;
#if defined(HOSTILE_FIB)
	if (fib(90) == 42)
		return staticlet_respond("{\"allowed\":false}");
#elif defined(HOSTILE_TWICE)
	if (twice(200) == 42)
		return staticlet_respond("{\"allowed\":false}");
#elif defined(HOSTILE_HOSTCALLS)
	chatter(0);
	chatter(0);
	for (;;)
		chatter(0);
#elif defined(HOSTILE_HOG)
	/* Grow the memory as far as the host lets it, then touch every page:
	 * the host must bound what this costs it by memoryLimit. */
	const uint32_t page = 65536;
	uint32_t first = (uint32_t)__builtin_wasm_memory_size(0);
	while (__builtin_wasm_memory_grow(0, 1) != (size_t)-1)
		;
	uint32_t last = (uint32_t)__builtin_wasm_memory_size(0);
	for (uint32_t p = first; p < last; p++)
		for (uint32_t off = 0; off < page; off += 4096)
			((volatile char *)(uintptr_t)(p * page))[off] = 1;
#endif
	return staticlet_respond("{\"allowed\":true}");
}
