#pragma once
// strata bundle: an image as an OCI runtime bundle (config.json + rootfs/) that runc starts
// the way strata run would: the same process, user, mounts, limits, namespaces, docker's
// capabilities, masked paths and seccomp rules (the sandbox's own lists, as data).
#include "runner/runner.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>

namespace strata::runner {

// The config.json for a container spec; mounts' sources are absolute host paths.
nlohmann::json runtime_config(const sandbox::Spec& spec);

// Writes `dir`/config.json and `dir`/rootfs (the image's layers flattened, as a copy), and
// `dir`/etc for /etc/hosts, /etc/hostname and /etc/resolv.conf. `dir` must not exist or
// be empty. Mounts an overlay to read the layers: call in a private mount namespace.
void write_bundle(store::Store& store, const RunOptions& options, const std::filesystem::path& dir);

} // namespace strata::runner
