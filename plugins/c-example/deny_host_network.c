/*
 * deny_host_network: a staticlet validate plugin in C, proving the ABI is
 * language-neutral. It denies pods that use the host's network namespace.
 *
 *   clang --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -O2 \
 *     -o deny-host-network.wasm deny_host_network.c
 */
#include "staticlet_plugin.h"

STATICLET_EXPORT("staticlet_validate") uint64_t validate(char *request, uint32_t len) {
	/* The request buffer is ours again: scan it, then free it. */
	int host_network = staticlet_find_bool(request, len, "hostNetwork");
	free(request);
	if (host_network) {
		staticlet_log(STATICLET_INFO, "denying a pod with hostNetwork");
		return staticlet_respond(
			"{\"allowed\":false,\"denials\":[{\"code\":\"HostNetwork\","
			"\"message\":\"the host's network namespace is not allowed\",\"field\":\"spec.hostNetwork\"}]}");
	}
	return staticlet_respond("{\"allowed\":true}");
}
