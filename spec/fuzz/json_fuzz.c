/*
 * json_fuzz.c — libFuzzer target for the JSON parser (src/core/json.c) and
 * its Lua conversion (src/core/json_lua.c): any input either is rejected
 * with a "malformed JSON at byte N" message (N within the input), or
 * decodes to a Lua value that encodes again and decodes back to the same
 * value. ASan and UBSan watch every step. Built and run by `make fuzz`.
 */
#include "json_roundtrip.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static lua_State *L;
    if (!L)
        L = rt_state();
    char why[512];
    int rc = rt_check(L, (const char *)data, size, why, sizeof why);
    if (rc == 0) {
        fprintf(stderr, "json_fuzz: accepted, but %s\n", why);
        abort();
    }
    size_t at;
    if (rc < 0 && (sscanf(why, "malformed JSON at byte %zu", &at) != 1 || at > size)) {
        fprintf(stderr, "json_fuzz: rejected with a bad message: %s\n", why);
        abort();
    }
    return 0;
}
