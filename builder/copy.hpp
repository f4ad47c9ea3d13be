#pragma once
// COPY's file work: matching sources (with wildcards) under a root that may be the build
// context or another stage's filesystem, hashing them for the cache key, and copying them
// into a new snapshot with docker's rules (owner root, modes and mtimes kept, symlinks
// copied as symlinks and never followed out of the root).
#include <filesystem>
#include <string>
#include <vector>

namespace strata::builder {

namespace fs = std::filesystem;

struct CopySource {
    std::string pattern;  // as written (after variable expansion)
    fs::path path;        // resolved host path, inside the root
    bool is_dir = false;
};

// Matches one source pattern under root. `*`, `?` and `[...]` match within one path
// component. Throws naming the pattern when nothing matches.
std::vector<CopySource> match_sources(const fs::path& root, const std::string& pattern);

// A content digest of a file or tree: relative names, types, permission bits, contents
// and link targets. No mtimes, owners or absolute paths, so clones elsewhere share it.
std::string hash_source(const fs::path& path);

// Copies `source` to `target` (a path inside the snapshot being written). A directory's
// contents are merged into target. Parents of target must exist.
void copy_entry(const fs::path& source, const fs::path& target);

// Creates the missing directories of `container_dir` (absolute, clean) inside `snapshot`,
// copying mode and owner from the same directory in `lower_view` when it exists there,
// else 0755 root:root as docker does.
void make_parent_dirs(const fs::path& snapshot, const fs::path& lower_view, const std::string& container_dir);

} // namespace strata::builder
