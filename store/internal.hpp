#pragma once
// Helpers shared by the store's source files; not part of the public API.
#include "store/store.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <cstddef>
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

// The buffer every streaming copy in the store reads and writes through.
inline constexpr std::size_t io_chunk_size = 128 * 1024;

// A blob's file name (and a chain id's directory): 64 lowercase hex digits.
inline bool is_hex64(std::string_view s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

// The three OCI layer media types a stored manifest may use.
inline bool is_oci_layer_media_type(std::string_view type) {
    return type == media::layer_tar || type == media::layer_gzip || type == media::layer_zstd;
}

struct ArchiveEntryFree {
    void operator()(archive_entry* e) const noexcept { archive_entry_free(e); }
};
using ArchiveEntry = std::unique_ptr<archive_entry, ArchiveEntryFree>;

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
