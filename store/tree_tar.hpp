#pragma once
// The one deterministic tar writer: a sorted walk of a directory, tarred by libarchive
// (restricted pax, numeric owners, blank uname/gname, mtime only, portable xattrs, hard
// links within the tree). Layer blobs (layer_write.cpp) and `strata export` both use it,
// so a layer and an exported filesystem hold their files byte for byte alike.
#include "store/store.hpp"

#include <cstddef>
#include <functional>

namespace strata::store {

// Receives the tar's bytes in order, in bounded chunks. It may throw: write_tree_tar
// rethrows that exception rather than libarchive's echo of it.
using TarSink = std::function<void(const void* data, std::size_t size)>;

enum class TreeKind {
    // A layer's snapshot in overlay format: a 0:0 char device is a deletion, written as an
    // empty `.wh.<name>`; a trusted.overlay.opaque=y directory gets a `.wh..wh..opq` marker.
    overlay_layer,
    // A whole filesystem (an image's merged view, `strata export`): nothing of a deletion
    // is written. A merged overlay shows none; a one-layer view is the snapshot itself,
    // whose whiteout devices and opaque xattrs are skipped rather than translated.
    flattened,
};

// Tars everything below `dir` (not `dir` itself), each directory's children in byte order
// (the order of Go's filepath.Walk, which umoci uses). Sockets are skipped; names starting
// with `.wh.` are refused (a layer reader would take them for deletions).
void write_tree_tar(const fs::path& dir, const TarSink& sink, const LayerOptions& options = {},
                    TreeKind kind = TreeKind::overlay_layer);

} // namespace strata::store
