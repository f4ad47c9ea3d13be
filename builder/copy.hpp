#pragma once
// COPY's file work: matching sources (with wildcards) under a root that may be the build
// context or another stage's filesystem, hashing them for the cache key, and copying them
// into a new snapshot with docker's rules (owner root, modes and mtimes kept, symlinks
// copied as symlinks and never followed out of the root).
#include "builder/ignore.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::builder {

namespace fs = std::filesystem;

// What .dockerignore leaves out of the build context (nothing when copying from a stage or
// an image), plus what COPY/ADD --exclude leaves out of one source.
class ContextFilter {
public:
    ContextFilter() = default;
    explicit ContextFilter(const IgnoreMatcher& matcher) : matcher_(&matcher) {}

    // This filter, also leaving out what `excludes` matches. BuildKit matches --exclude
    // patterns against paths relative to the directory being copied, so an entry at
    // root-relative `base/x/y` is matched as `prefix/x/y` (`prefix` is empty but for
    // COPY --parents, where the path kept under the destination is what is matched).
    // The matcher must outlive the returned filter.
    ContextFilter with_excludes(const IgnoreMatcher& excludes, std::string base, std::string prefix = {}) const;

    // True when the entry at `rel` (slash-separated, relative to the root) is left out,
    // for a directory only when no `!` exception can bring back anything below it.
    bool skip(const std::string& rel, bool is_dir) const;
    // True when --exclude leaves out `path`, given as the patterns see it (see with_excludes).
    bool excluded(const std::string& path, bool is_dir) const;

private:
    const IgnoreMatcher* matcher_ = nullptr;
    const IgnoreMatcher* excludes_ = nullptr;
    std::string base_;
    std::string prefix_;
};

// COPY --chmod: octal ("0755") or symbolic ("u+x,go-w", "a=rX") as chmod(1) reads it.
class ModeChange {
public:
    static ModeChange parse(const std::string& text);  // throws naming the text
    unsigned apply(unsigned mode, bool is_dir) const;   // permission bits (07777) in and out

private:
    struct Clause {
        unsigned who = 0;    // bits of 07777 the clause may touch
        char op = '=';       // + - =
        unsigned perms = 0;  // rwx/st bits for all of u, g and o (masked by who)
        bool exec_if_dir_or_executable = false;  // X
    };
    std::optional<unsigned> absolute_;
    std::vector<Clause> clauses_;
};

// The owner and mode COPY gives what it writes: root:root and the source's mode, unless
// --chown / --chmod say otherwise (docker: a user without a group uses the uid as gid).
struct CopyAttributes {
    unsigned uid = 0;
    unsigned gid = 0;
    std::optional<ModeChange> chmod;
    unsigned mode_for(unsigned source_mode, bool is_dir) const {
        return chmod ? chmod->apply(source_mode & 07777, is_dir) : source_mode & 07777;
    }
};

struct CopySource {
    std::string pattern;  // as written (after variable expansion)
    fs::path path;        // resolved host path, inside the root
    std::string rel;      // the same, relative to the root ("" for the root itself)
    bool is_dir = false;
    std::string matched = {};  // the path the pattern matched, relative to the root, before symlinks were followed
};

// Matches one source pattern under root. `*`, `?` and `[...]` match within one path
// component; a `**` component matches any number of directories (none included).
// Throws naming the pattern when nothing (not left out by the filter) matches.
std::vector<CopySource> match_sources(const fs::path& root, const std::string& pattern, const ContextFilter& filter = {});

// A content digest of a file or tree: relative names, types, permission bits, contents
// and link targets. No mtimes, owners or absolute paths, so clones elsewhere share it.
// Entries the filter leaves out are not part of it.
std::string hash_source(const CopySource& source, const ContextFilter& filter = {});

// Copies `source` to `target` (a path inside the snapshot being written). A directory's
// contents are merged into target, less what the filter leaves out. Parents of target must exist.
void copy_entry(const CopySource& source, const fs::path& target, const ContextFilter& filter = {},
                const CopyAttributes& attributes = {});

// The leading components of a (cleaned) pattern that hold no wildcard: "src/*/a.txt" -> "src".
std::string wildcard_base(const std::string& pattern);
bool has_wildcard(const std::string& pattern);

// Writes `content` to a new file at `path` with `mode` and mtime `seconds` (a source for
// copy_entry, such as a heredoc's body).
void write_source_file(const fs::path& path, std::string_view content, unsigned mode, long long seconds);
// Sets a path's atime and mtime (not following a symlink).
void set_mtime(const fs::path& path, long long seconds);

// Creates the missing directories of `container_dir` (absolute, clean) inside `snapshot`,
// copying mode and owner from the same directory in `lower_view` when it exists there,
// else 0755 root:root as docker does.
// Directories that exist nowhere yet are created owned by `owner` (COPY --chown).
void make_parent_dirs(const fs::path& snapshot, const fs::path& lower_view, const std::string& container_dir,
                      const CopyAttributes& owner = {});

// COPY --parents: creates `parents` (relative) below `container_dir` (which exists in the
// snapshot). A directory the lower view has keeps the lower's mode and owner, as docker
// merges into it; a new one takes mode and mtime from the same directory below
// `source_base` in `source_root` (resolved inside it, with --chmod and --chown applied),
// as BuildKit copies it.
void make_source_parent_dirs(const fs::path& snapshot, const fs::path& lower_view, const std::string& container_dir,
                             const std::string& parents, const fs::path& source_root, const std::string& source_base,
                             const CopyAttributes& attributes);

} // namespace strata::builder
