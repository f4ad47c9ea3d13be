#pragma once
// The parent's half of the overlay root: the sandbox's own directories in state_dir, the
// upper root's attributes, and the overlay itself, created with the new mount API as a
// detached mount that the child attaches inside its mount namespace (nothing is ever
// mounted in the host's), or as mount(2) options for kernels before 6.8.
#include "sandbox/sandbox.hpp"
#include "util/fd.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace strata::sandbox {

struct StateLayout {
    std::filesystem::path root;         // the overlay's mount point
    std::filesystem::path mountpoints;  // holds empty proc, dev, sys: the bottom lowerdir
};

// Creates state_dir/root and state_dir/mountpoints/{proc,dev,sys} (0755, root-owned). The
// mount points live in a lower layer so they never appear in the upper dir's diff; for a
// scratch image this layer is also the one lowerdir overlay insists on.
StateLayout prepare_state_dir(const std::filesystem::path& state_dir);

// The lowerdirs for the mount: the spec's layers, then the mountpoints layer at the bottom.
std::vector<std::filesystem::path> overlay_lower_dirs(const Spec& spec, const StateLayout& state);

// Overlay takes its root's mode and owner from the upper dir, so the upper root gets the
// topmost lower root's: an image's root stays what its layers say (in host ids, for a
// user-namespaced run: the upper is not idmapped).
void copy_root_attributes(const std::filesystem::path& from_lower, const std::filesystem::path& upper,
                          const std::optional<IdMapping>& userns = std::nullopt);

struct OverlayMount {
    Fd mount_fd;                 // the detached mount; invalid when the child must use mount(2)
    std::string legacy_options;  // mount(2) data
    std::string legacy_dir;      // lowerdirs in legacy_options are relative to this, if set
};

// redirect_dir, metacopy and index are off so that the upper dir holds a complete diff.
// An empty `upper` makes a read-only overlay of the lower dirs alone (new mount API only).
// With idmap_userns_fd, every lower dir is seen through an idmapped mount (userns.hpp);
// the upper is not: it receives host ids.
OverlayMount prepare_overlay(const std::vector<std::filesystem::path>& lower_dirs, const std::filesystem::path& upper,
                             const std::filesystem::path& work, const std::filesystem::path& mount_point,
                             int idmap_userns_fd = -1);

// mount(2) data for the overlay, with ',', ':' and '\' escaped in paths. Exposed for tests.
std::string legacy_overlay_options(const std::vector<std::string>& lower_dirs, const std::string& upper,
                                   const std::string& work);

} // namespace strata::sandbox
