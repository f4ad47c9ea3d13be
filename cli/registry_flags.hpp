#pragma once
// The TLS flags of every command that talks to registries (pull, push, login, build, lock),
// spelled as podman's: --tls-verify=false and --insecure-registry HOST add to what certs.d
// and $STRATA_INSECURE_REGISTRIES already say.
#include "registry/client.hpp"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace strata::cli {

struct RegistryFlags {
    bool tls_verify = true;
    std::vector<std::string> insecure;
    std::string mirror;
};

void add_registry_flags(CLI::App* command, RegistryFlags& flags);
registry::RegistryOptions registry_options(const RegistryFlags& flags);

} // namespace strata::cli
