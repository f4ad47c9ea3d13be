#pragma once
// strata run's mount and environment flags, read as docker reads them: -v, --mount,
// --tmpfs and --env-file. Parsing is separate from resolving (named volumes live in the
// store), so that every docker spelling can be tested without a store.
#include "sandbox/sandbox.hpp"
#include "store/store.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace strata::runner {

struct MountRequest {
    enum class Kind { bind, volume, tmpfs };
    Kind kind = Kind::bind;
    std::string source;  // bind: an absolute host path; volume: a name, "" for an anonymous one
    std::string target;  // absolute, in the container
    bool read_only = false;
    bool create_source = false;  // -v makes a missing host directory; --mount refuses it
    bool copy_image_content = true;  // volume: an empty one is filled from the image (nocopy: not)
    std::optional<std::int64_t> size_bytes;  // tmpfs
    unsigned mode = 01777;                   // tmpfs
};

// -v SRC:DST[:OPTS] (SRC absolute: a bind; else a volume name), -v DST (an anonymous volume).
// OPTS: ro, rw, z, Z (SELinux labels: nothing to do here), nocopy.
MountRequest parse_volume_flag(const std::string& text);
// --mount type=bind|volume|tmpfs,source=..,target=..[,readonly][,tmpfs-size=..][,tmpfs-mode=..]
MountRequest parse_mount_flag(const std::string& text);
// --tmpfs DST[:size=64m,mode=1777]
MountRequest parse_tmpfs_flag(const std::string& text);

// The sandbox's mount for a request: a named volume becomes its store directory, an
// anonymous one a directory under `anonymous_parent` (gone with the container). A volume
// that is empty gets what the image holds at the target, as docker fills it, read from
// `image_root` (the image's files, e.g. a read-only view of its layers; empty: no copy).
// Throws when a --mount bind source is missing. With `userns` (docker's userns-remap), a
// volume still owned by the host's root (a new one) is given to the container's root; an
// image_root seen through that mapping fills it with the container's own owners.
sandbox::Mount resolve_mount(const MountRequest& request, store::Store& store, const std::filesystem::path& anonymous_parent,
                             const std::filesystem::path& image_root = {},
                             const std::optional<sandbox::IdMapping>& userns = std::nullopt);

// --env-file: KEY=VALUE lines (the value verbatim, quotes included), KEY alone to take the
// host's value, '#' comments and blank lines skipped. Throws naming file:line.
std::vector<std::string> read_env_file(const std::filesystem::path& path);

} // namespace strata::runner
