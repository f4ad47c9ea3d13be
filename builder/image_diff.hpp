#pragma once
// `strata diff`: the files added (A), deleted (D) and changed (C) between two images, found
// by walking their merged read-only views side by side.
//
// It lives in builder/, not store/: comparing images means mounting overlay views of their
// snapshots (sandbox), and only builder may use both store and sandbox. The tree walk
// itself (diff_trees) needs neither and is tested on plain directories.
#include "store/store.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace strata::builder {

// What a path is on one side: its type and the attributes a change is judged by.
struct FileInfo {
    std::string type;  // file, directory, symlink, fifo, char-device, block-device, socket
    unsigned mode = 0; // permission bits with set-id and sticky (07777)
    std::uint32_t uid = 0, gid = 0;
    long long size = 0;  // regular files only (a directory's size depends on the filesystem)
    std::string target;  // symlinks
};

struct Change {
    char kind = 'C';   // 'A' added, 'D' deleted, 'C' changed
    std::string path;  // absolute in the image: "/etc/passwd"
    FileInfo before;   // D and C
    FileInfo after;    // A and C
    // C only, in this order: type, mode, owner, size, target, device, xattrs, content.
    std::vector<std::string> changed;
};

// The changes that turn the tree at `before` into the tree at `after`, sorted by path
// (bytewise). A path is changed when its type, mode, owner, size, symlink target, device
// number, portable xattrs (security.capability, user.*) or content differ; mtimes are not
// compared (a file rewritten with the same bytes is unchanged). Contents of regular files
// of equal size are compared byte for byte, unless both sides are the same inode (the same
// layer's snapshot seen through both views, as for every file an image shares with its
// base), which is equal without reading. A directory is changed only by its own
// attributes; everything in an added or deleted directory is listed too.
std::vector<Change> diff_trees(const std::filesystem::path& before, const std::filesystem::path& after);

// Mounts read-only views of both images (the caller has entered a private mount
// namespace and holds the store for use) and diffs them.
std::vector<Change> diff_images(store::Store& store, const store::Image& before, const store::Image& after);
// The image against its base: the same image without its top layer (the last history
// entry that made a layer), so a build's last RUN or COPY is what is shown. An image with
// one layer is compared with an empty filesystem; one without layers is an error.
std::vector<Change> diff_with_base(store::Store& store, const store::Image& image);

// "A /etc/new (12 bytes)", "D /opt (directory)", "C /etc/passwd (82 -> 91 bytes)",
// "C /bin/tool (120 bytes; mode 0755 -> 0700)", "C /etc/hosts (45 bytes; content)".
std::string format_change(const Change& change);
// {"changes": [{"change": "C", "path": ..., "before": {...}, "after": {...}, "changed": [...]}]},
// keys in that order; a side is {"type", "mode" ("0644"), "uid", "gid", "size" (files),
// "target" (symlinks)}.
nlohmann::ordered_json changes_json(const std::vector<Change>& changes);

} // namespace strata::builder
