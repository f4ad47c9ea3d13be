#pragma once
// libcurl, loaded when the first download starts rather than when strata starts: with the
// twenty libraries it pulls in (TLS, Kerberos, LDAP, IDN, ...) it adds ~35 ms of dynamic
// linking to every process start here, which is most of what a no-op rebuild may take.
// Shared by ADD's downloads (builder/fetch.cpp) and the registry client (registry/).
#define CURL_DISABLE_TYPECHECK  // calls go through the pointers below, not the checking macros
#include <curl/curl.h>

#include <memory>

namespace strata {

struct LibCurl {
    CURLcode (*global_init)(long flags);
    CURL* (*easy_init)();
    CURLcode (*easy_setopt)(CURL* handle, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL* handle);
    CURLcode (*easy_getinfo)(CURL* handle, CURLINFO info, ...);
    void (*easy_reset)(CURL* handle);
    void (*easy_cleanup)(CURL* handle);
    const char* (*easy_strerror)(CURLcode code);
    curl_slist* (*slist_append)(curl_slist* list, const char* string);
    void (*slist_free_all)(curl_slist* list);
};

// Loads libcurl.so.4 once (thread-safe) and runs curl_global_init once; throws
// strata::Error naming what is missing.
const LibCurl& libcurl();

struct CurlEasyCleanup {
    void operator()(CURL* c) const noexcept { libcurl().easy_cleanup(c); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyCleanup>;
CurlEasy make_curl_easy();  // throws when curl_easy_init fails

struct CurlListCleanup {
    void operator()(curl_slist* list) const noexcept { libcurl().slist_free_all(list); }
};
// A header list; append with curl_list_append, which keeps ownership on failure.
using CurlList = std::unique_ptr<curl_slist, CurlListCleanup>;
void curl_list_append(CurlList& list, const char* item);

} // namespace strata
