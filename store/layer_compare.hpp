#pragma once
// Where two layer blobs first differ, entry by entry: what `strata build
// --check-reproducible` reports when two builds of one Buildfile give different layers.
// Unlike `strata diff`, which compares merged filesystems and ignores mtimes, this
// compares the tars themselves, so a clamped-or-not mtime or a reordered entry shows too.
#include "util/fs.hpp"

#include <optional>
#include <string>

namespace strata::store {

struct TarDifference {
    std::string path;    // the entry in the first tar (the second's when the first has ended)
    std::string detail;  // what differs there: "content", "mtime 1700000000 vs 1700000005", ...
};

// Reads both blobs (gzip, zstd or plain tar) side by side and compares each entry's name,
// type, mode, owners, times, size, link targets, device, xattrs and content, in that
// order. nullopt when every entry agrees (the tars' header bytes may still differ).
std::optional<TarDifference> first_tar_difference(const fs::path& first, const fs::path& second);

} // namespace strata::store
