#pragma once
// /etc/hosts, /etc/hostname and /etc/resolv.conf for a container, as docker and BuildKit
// give them: written into the sandbox's private state directory and bind-mounted over the
// image's own (or onto stubs in the sandbox's bottom lowerdir when the image has none), so
// they never reach a layer unless the command itself writes them elsewhere.
#include "sandbox/sandbox.hpp"

#include <filesystem>
#include <vector>

namespace strata::sandbox {

// Writes the three files under `dir` for this spec and returns the writable bind mounts
// that put them in place (writes stay in `dir`, which is thrown away with the run).
std::vector<Mount> network_identity_mounts(const Spec& spec, const std::filesystem::path& dir);

} // namespace strata::sandbox
