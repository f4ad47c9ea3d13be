#pragma once
// Helpers shared by the store's source files; not part of the public API.
#include "store/store.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

#include <archive.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace strata::store::detail {

struct ArchiveReadFree {
    void operator()(archive* a) const noexcept { archive_read_free(a); }
};
struct ArchiveWriteFree {
    void operator()(archive* a) const noexcept { archive_write_free(a); }
};
using ArchiveReader = std::unique_ptr<archive, ArchiveReadFree>;
using ArchiveWriter = std::unique_ptr<archive, ArchiveWriteFree>;

// libarchive's message for the last failure, or a fallback.
inline std::string archive_message(archive* a) {
    const char* msg = archive_error_string(a);
    return msg ? msg : "unknown libarchive error";
}

// True for the xattrs a layer carries: file capabilities and user.* ones. Never
// security.selinux (host policy) or trusted.* (overlay's bookkeeping: origin, impure, ...).
inline bool is_portable_xattr(std::string_view name) {
    return name == "security.capability" || name.starts_with("user.");
}

inline constexpr std::string_view whiteout_prefix = ".wh.";
inline constexpr std::string_view opaque_marker = ".wh..wh..opq";
inline constexpr const char* overlay_opaque_xattr = "trusted.overlay.opaque";

// Opens `rel` (a '/'-separated path of plain components) beneath the directory
// root_fd without following any symlink; missing directories are created (0755)
// when `create` is set. Returns an invalid Fd when a component is missing and
// create is false. Throws when a component is a symlink or not a directory.
Fd open_dir_beneath(int root_fd, std::string_view rel, bool create);

// unpack_layer that also returns the digest of the blob's bytes: {diff id, blob digest}.
std::pair<std::string, std::string> unpack_layer_hashed(const std::filesystem::path& blob, std::string_view media_type,
                                                        const std::filesystem::path& target, WhiteoutMode mode);

} // namespace strata::store::detail
