/* fuzz_webconfig.c - libFuzzer target: any bytes through webconfig_parse(), then
 * webconfig_close(). Besides what ASan and UBSan catch, it aborts when a parse that
 * succeeded breaks a promise of webconfig.h (terminated lists, a certificate and key
 * whenever tls is set, only bcrypt hashes, no empty header values). Seeds are in
 * tests/fuzz/corpus/webconfig/, keys for mutation in webconfig.dict (run.sh gives
 * tests/fuzz/<name>.dict to fuzz_<name>). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "basic_auth.h"
#include "webconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct webconfig *wc)
{
    if (wc->tls && !(wc->cert_file || wc->cert_pem))
        abort();
    if (wc->tls && !(wc->key_file || wc->key_pem))
        abort();
    if ((wc->cert_file && wc->cert_pem) || (wc->key_file && wc->key_pem))
        abort();
    if (wc->min_minor > wc->max_minor || wc->max_minor > 3 || wc->min_minor < 1)
        abort();
    if (wc->cipher_suites && wc->cipher_suites[wc->n_cipher_suites] != 0)
        abort();
    for (size_t i = 0; i < wc->n_cipher_suites; i++)
        if (wc->cipher_suites[i] == 0)
            abort();
    if (wc->curves && wc->curves[wc->n_curves] != MBEDTLS_ECP_DP_NONE)
        abort();
    for (size_t i = 0; i < wc->n_users; i++) {
        if (!basic_auth_hash_valid(wc->users[i].hash) || strchr(wc->users[i].name, ':'))
            abort();
        if (webconfig_user_hash(wc, wc->users[i].name) != wc->users[i].hash)
            abort(); /* names are unique: the first match is this one */
    }
    for (size_t i = 0; i < wc->n_headers; i++)
        if (!wc->headers[i].value[0] || strpbrk(wc->headers[i].value, "\r\n"))
            abort();
    for (size_t i = 0; i < wc->n_allowed_sans; i++)
        if (!wc->allowed_sans[i][0])
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct webconfig wc;
    char err[WEBCONFIG_ERR_MAX];
    int rc = webconfig_parse((const char *)data, size, "fuzz/web.yml", &wc, err, sizeof(err));
    if (rc == 0)
        check(&wc);
    else if (err[0] == '\0' || wc.n_users || wc.cert_file || wc.headers)
        abort(); /* an error always says why and leaves nothing behind */
    webconfig_close(&wc);
    return 0;
}
