#pragma once
// libcurl, loaded when the first download starts rather than when strata starts: with the
// twenty libraries it pulls in (TLS, Kerberos, LDAP, IDN, ...) it adds ~35 ms of dynamic
// linking to every process start here, which is most of what a no-op rebuild may take.
#define CURL_DISABLE_TYPECHECK  // calls go through the pointers below, not the checking macros
#include <curl/curl.h>

namespace strata::builder {

struct LibCurl {
    CURLcode (*global_init)(long flags);
    CURL* (*easy_init)();
    CURLcode (*easy_setopt)(CURL* handle, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL* handle);
    CURLcode (*easy_getinfo)(CURL* handle, CURLINFO info, ...);
    void (*easy_cleanup)(CURL* handle);
    const char* (*easy_strerror)(CURLcode code);
};

// Loads libcurl.so.4 once (thread-safe); throws strata::Error naming what is missing.
const LibCurl& libcurl();

} // namespace strata::builder
