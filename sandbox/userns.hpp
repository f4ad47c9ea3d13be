#pragma once
// User namespaces for containers (docker's userns-remap, podman's --uidmap): the
// container's ids 0..size-1 are an unprivileged range of host ids. The image's files keep
// their ids on disk and are seen through idmapped mounts, so that what root owns in the
// image belongs to the container's root, without a shifted copy of any layer.
#include "sandbox/sandbox.hpp"
#include "util/fd.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace strata::sandbox {

// A user namespace with the mapping, held by an fd (for setns and for idmapped mounts).
// Made by a short-lived child that the kernel lets us map because we are root outside.
Fd make_user_namespace(const IdMapping& mapping);

// A detached clone of the mount tree at `dir`, idmapped through `userns_fd`: a file that
// is uid N on disk appears as host uid host_uid+N through it.
Fd idmapped_tree(const std::filesystem::path& dir, int userns_fd);

// The host id that container id `id` is, or `id` itself when the mapping does not cover it.
std::uint32_t host_uid(const IdMapping& mapping, std::uint32_t id);
std::uint32_t host_gid(const IdMapping& mapping, std::uint32_t id);

// The first range that /etc/subuid and /etc/subgid (given as their contents) grant to one
// of `users` (in order of preference), as "name:start:count" lines; at most `size` ids.
// nullopt when neither file has a range for any of them.
std::optional<IdMapping> subordinate_mapping(const std::string& subuid, const std::string& subgid,
                                             const std::vector<std::string>& users, std::uint32_t size);

// podman's --uidmap/--gidmap value "0:HOST:SIZE". Only one range, starting at container
// id 0, is supported; throws naming the flag otherwise.
struct IdRange {
    std::uint32_t host = 0;
    std::uint32_t size = 0;
};
IdRange parse_id_map(const std::string& flag, const std::string& text);

} // namespace strata::sandbox
