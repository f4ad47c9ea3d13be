// strata login / logout: credentials checked against the registry, then kept where docker
// and podman keep them (credentials.hpp).
#include "registry/registry.hpp"

#include "util/error.hpp"

namespace strata::registry {

std::string registry_domain(std::string_view argument) {
    std::string_view text = argument;
    if (const auto scheme = text.find("://"); scheme != std::string_view::npos) text.remove_prefix(scheme + 3);
    text = text.substr(0, text.find('/'));
    if (text.empty() || text == "index.docker.io" || text == "registry-1.docker.io") return store::default_domain;
    return std::string(text);
}

void login(std::string_view registry, const Credentials& credentials, const RegistryOptions& options) {
    const std::string domain = registry_domain(registry);
    Registry client(domain, options);
    HttpClient http;
    with_context("logging in to '" + domain + "'", [&] {
        client.check_credentials(http, credentials);
        store_credentials(options.credentials, domain, credentials);
    });
}

bool logout(std::string_view registry, const RegistryOptions& options) {
    return erase_credentials(options.credentials, registry_domain(registry));
}

} // namespace strata::registry
