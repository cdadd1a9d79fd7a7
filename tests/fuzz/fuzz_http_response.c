/* fuzz_http_response.c - libFuzzer target: common/http.c reading responses, as the client
 * reads poll answers and exporters' answers and the proxy reads a pushed response. The
 * input format and the checks are in fuzz_http.h. */
#include "fuzz_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_http_run(HTTP_KIND_RESPONSE, data, size);
}
