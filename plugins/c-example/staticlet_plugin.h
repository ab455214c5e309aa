/*
 * staticlet_plugin.h: the staticlet plugin ABI, version 1, for C
 * (clang --target=wasm32-wasi -mexec-model=reactor). See docs/plugin-abi.md.
 *
 * A plugin defines the operations it offers with STATICLET_EXPORT and returns
 * responses with staticlet_respond(). Memory: the guest owns every buffer.
 * This header gives the simplest correct scheme: staticlet_alloc() mallocs the
 * request buffer, the operation frees it, and the last response is kept until
 * the next call into the module, which frees it.
 */
#ifndef STATICLET_PLUGIN_H
#define STATICLET_PLUGIN_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define STATICLET_ABI_VERSION 1

#define STATICLET_EXPORT(name) __attribute__((export_name(name)))
#define STATICLET_IMPORT(name) __attribute__((import_module("staticlet"), import_name(name)))

/* Host functions. */
STATICLET_IMPORT("log") void staticlet_host_log(uint32_t level, const char *msg, uint32_t len);
STATICLET_IMPORT("node_name") uint32_t staticlet_host_node_name(char *buf, uint32_t cap);
STATICLET_IMPORT("node_labels") uint32_t staticlet_host_node_labels(char *buf, uint32_t cap);

enum { STATICLET_TRACE, STATICLET_DEBUG, STATICLET_INFO, STATICLET_WARN, STATICLET_ERROR };

static inline void staticlet_log(uint32_t level, const char *msg) {
	staticlet_host_log(level, msg, (uint32_t)strlen(msg));
}

/* The previous response, freed on the next entry into the module. */
static char *staticlet_last_response;

static inline void staticlet_release_last(void) {
	free(staticlet_last_response);
	staticlet_last_response = NULL;
}

STATICLET_EXPORT("staticlet_abi_version") uint32_t staticlet_abi_version(void) {
	staticlet_release_last();
	return STATICLET_ABI_VERSION;
}

STATICLET_EXPORT("staticlet_alloc") void *staticlet_alloc(uint32_t size) {
	staticlet_release_last();
	return malloc(size ? size : 1);
}

/* staticlet_respond copies json (NUL-terminated) into a buffer the module
 * owns and returns the packed pointer/length an operation must return. */
static inline uint64_t staticlet_respond(const char *json) {
	size_t len = strlen(json);
	staticlet_release_last();
	staticlet_last_response = malloc(len ? len : 1);
	if (!staticlet_last_response)
		return 0; /* the host reports an empty response as malformed */
	memcpy(staticlet_last_response, json, len);
	return ((uint64_t)(uintptr_t)staticlet_last_response << 32) | (uint64_t)len;
}

/* staticlet_find_bool reports whether the JSON text has "key": true (a
 * deliberately small scanner; real plugins use a JSON library). */
static inline int staticlet_find_bool(const char *json, size_t len, const char *key) {
	size_t klen = strlen(key);
	for (size_t i = 0; i + klen + 2 <= len; i++) {
		if (json[i] != '"' || memcmp(json + i + 1, key, klen) != 0 || json[i + 1 + klen] != '"')
			continue;
		size_t j = i + klen + 2;
		while (j < len && (json[j] == ' ' || json[j] == '\t' || json[j] == '\n' || json[j] == '\r' || json[j] == ':'))
			j++;
		if (j + 4 <= len && memcmp(json + j, "true", 4) == 0)
			return 1;
	}
	return 0;
}

#endif
