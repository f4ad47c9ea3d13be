#pragma once
// strata.lock: the digest of every image a Buildfile stands on (FROM, COPY --from=IMAGE,
// RUN --mount from=IMAGE), written by `strata lock`, so that a build resolves no tag over
// the network and a no-op rebuild works offline (cargo's Cargo.lock, for base images).
//
//   {
//     "version": 1,
//     "platform": "linux/amd64",
//     "images": {
//       "alpine:3": {                       <- the reference as the Buildfile gives it, ARGs expanded
//         "name": "docker.io/library/alpine:3",
//         "digest": "sha256:...",           <- what the registry gives the tag (an index or a manifest)
//         "manifest": "sha256:...",         <- the image manifest for the platform
//         "local": true                     <- only for an image no registry has (built or loaded here)
//       }
//     }
//   }
//
// Written sorted and indented, so that the same images give the same bytes and a diff in
// review shows which base moved.
#include "parser/buildfile.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::builder {

namespace fs = std::filesystem;

inline constexpr const char* lock_file_name = "strata.lock";
inline constexpr int lock_version = 1;

struct LockedImage {
    std::string name;      // normalised, with its tag
    std::string digest;    // the registry's digest for the name (local: the stored manifest's)
    std::string manifest;  // the platform's image manifest
    bool local = false;    // in this store only: never pulled, by name or digest

    // "name-without-tag@manifest" (local: @digest): what a locked build resolves instead of the tag.
    std::string pinned() const;
    bool operator==(const LockedImage&) const = default;
};

struct LockFile {
    std::string platform;                        // the platform the manifests were chosen for
    std::map<std::string, LockedImage> images;   // by reference as written (ARGs expanded)
    fs::path path;                               // where it was read from, for messages

    // The entry for a reference: as written, else any whose normalised name is the same
    // ("alpine" and "docker.io/library/alpine:latest" are one image).
    const LockedImage* find(const std::string& reference) const;
    bool operator==(const LockFile& other) const { return platform == other.platform && images == other.images; }
};

// The file's bytes: sorted keys, two-space indent, a final newline.
std::string lock_to_text(const LockFile& lock);
// Throws strata::Error naming `path` and what is wrong.
LockFile parse_lock(std::string_view text, const fs::path& path);
LockFile read_lock(const fs::path& path);
// Crash-safe: a temp file beside it, fsynced, renamed over it.
void write_lock(const fs::path& path, const LockFile& lock);

// `<dir of the Buildfile>/strata.lock`; the context's when the Buildfile is stdin.
fs::path default_lock_path(const fs::path& buildfile_path, const fs::path& context_dir);

// One use of an external image in a Buildfile.
struct ImageUse {
    std::string reference;    // ARGs before the first FROM expanded
    parser::Location loc;     // the instruction's
    std::string instruction;  // "FROM", "COPY --from", "RUN --mount from="
};
// Every image the stages use (not stage names, not scratch), in file order. `stages`:
// the stage indexes to look at (a build's build_order), or all when empty.
std::vector<ImageUse> image_uses(const parser::Dag& dag, const std::vector<int>& stages = {});

// image_uses() of every stage of a Buildfile, parsed as a build parses it (build args,
// the platform ARGs): what `strata lock` records, so one lock serves every --target.
std::vector<ImageUse> buildfile_image_uses(std::string_view text, const std::string& filename,
                                           const std::map<std::string, std::string>& build_args);

// A build with a lock file: every image the build will use must be in it, else an error
// naming the first one missing (file:line) and saying to run `strata lock` again; the
// lock must be for `platform` too.
void check_lock_covers(const LockFile& lock, const std::vector<ImageUse>& uses, const std::string& platform);

} // namespace strata::builder
