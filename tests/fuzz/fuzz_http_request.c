/* fuzz_http_request.c - libFuzzer target: common/http.c reading requests, as the proxy
 * reads scrapes, polls and pushes and the client reads a poll answer's body. The input
 * format and the checks are in fuzz_http.h. */
#include "fuzz_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_http_run(HTTP_KIND_REQUEST, data, size);
}
