#pragma once
// COPY's file work: matching sources (with wildcards) under a root that may be the build
// context or another stage's filesystem, hashing them for the cache key, and copying them
// into a new snapshot with docker's rules (owner root, modes and mtimes kept, symlinks
// copied as symlinks and never followed out of the root).
#include "builder/ignore.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace strata::builder {

namespace fs = std::filesystem;

// What .dockerignore leaves out of the build context; nothing when copying from a stage.
class ContextFilter {
public:
    ContextFilter() = default;
    explicit ContextFilter(const IgnoreMatcher& matcher) : matcher_(&matcher) {}
    // True when the entry at `rel` (slash-separated, relative to the root) is left out,
    // for a directory only when no `!` exception can bring back anything below it.
    bool skip(const std::string& rel, bool is_dir) const;

private:
    const IgnoreMatcher* matcher_ = nullptr;
};

struct CopySource {
    std::string pattern;  // as written (after variable expansion)
    fs::path path;        // resolved host path, inside the root
    std::string rel;      // the same, relative to the root ("" for the root itself)
    bool is_dir = false;
};

// Matches one source pattern under root. `*`, `?` and `[...]` match within one path
// component. Throws naming the pattern when nothing (not left out by the filter) matches.
std::vector<CopySource> match_sources(const fs::path& root, const std::string& pattern, const ContextFilter& filter = {});

// A content digest of a file or tree: relative names, types, permission bits, contents
// and link targets. No mtimes, owners or absolute paths, so clones elsewhere share it.
// Entries the filter leaves out are not part of it.
std::string hash_source(const CopySource& source, const ContextFilter& filter = {});

// Copies `source` to `target` (a path inside the snapshot being written). A directory's
// contents are merged into target, less what the filter leaves out. Parents of target must exist.
void copy_entry(const CopySource& source, const fs::path& target, const ContextFilter& filter = {});

// Creates the missing directories of `container_dir` (absolute, clean) inside `snapshot`,
// copying mode and owner from the same directory in `lower_view` when it exists there,
// else 0755 root:root as docker does.
void make_parent_dirs(const fs::path& snapshot, const fs::path& lower_view, const std::string& container_dir);

} // namespace strata::builder
