#include "util/libcurl.hpp"

#include "util/error.hpp"

#include <dlfcn.h>
#include <string>

namespace strata {

namespace {

template <typename F>
void bind(void* library, const char* name, F& function) {
    void* symbol = ::dlsym(library, name);
    if (!symbol) throw Error(std::string("libcurl.so.4 has no '") + name + "'");
    function = reinterpret_cast<F>(symbol);
}

LibCurl load() {
    // Never closed: libcurl keeps global state for the life of the process.
    void* library = ::dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!library) throw Error(std::string("cannot load libcurl (install libcurl4): ") + ::dlerror());
    LibCurl api{};
    bind(library, "curl_global_init", api.global_init);
    bind(library, "curl_easy_init", api.easy_init);
    bind(library, "curl_easy_setopt", api.easy_setopt);
    bind(library, "curl_easy_perform", api.easy_perform);
    bind(library, "curl_easy_getinfo", api.easy_getinfo);
    bind(library, "curl_easy_reset", api.easy_reset);
    bind(library, "curl_easy_cleanup", api.easy_cleanup);
    bind(library, "curl_easy_strerror", api.easy_strerror);
    bind(library, "curl_slist_append", api.slist_append);
    bind(library, "curl_slist_free_all", api.slist_free_all);
    // Before any other thread can use libcurl: curl_global_init is not thread-safe.
    if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw Error("curl_global_init failed");
    return api;
}

} // namespace

const LibCurl& libcurl() {
    static const LibCurl api = load();  // a failed load throws and is tried again next time
    return api;
}

CurlEasy make_curl_easy() {
    CurlEasy curl(libcurl().easy_init());
    if (!curl) throw Error("curl_easy_init failed");
    return curl;
}

void curl_list_append(CurlList& list, const char* item) {
    curl_slist* appended = libcurl().slist_append(list.get(), item);
    if (!appended) throw Error("curl_slist_append failed");
    (void)list.release();
    list.reset(appended);
}

} // namespace strata
