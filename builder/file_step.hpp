#pragma once
// What COPY and ADD share once their sources are found: where each lands under the
// destination, heredoc sources, --chown/--chmod, the common part of the cache record,
// --link, and writing everything into a new snapshot.
#include "builder/copy.hpp"
#include "builder/stage.hpp"

#include <functional>
#include <string>
#include <vector>

namespace strata::builder {

// One thing a COPY or ADD writes.
struct FileSource {
    CopySource source;      // on the host: in the context, a stage's or image's view, or a temp file
    ContextFilter filter;   // what to leave out below a directory source
    std::string name;       // its file name when it lands in a destination directory
    std::string parents;    // COPY --parents: the path kept under the destination ("" = none)
    fs::path parents_root;     // COPY --parents: the source root (context or view) ...
    std::string parents_base;  // ... and the directory in it `parents` is relative to (the `./` pivot)
    bool unpack = false;    // ADD: extract it instead when it is a tar archive
};

struct FileStep {
    std::vector<FileSource> sources;
    std::string dest_path;     // absolute and clean, in the container
    bool dest_is_dir = false;  // "into this directory": trailing slash, ".", several sources, --parents
    CopyAttributes attributes;
    bool link = false;
};

// The build's notion of now for files it makes (heredocs, downloads without Last-Modified):
// SOURCE_DATE_EPOCH when set, else the clock.
long long build_time(const StageBuild& stage);

// The sources `pattern` matches under `root` (COPY and ADD without --parents), with
// --exclude applied as BuildKit does: below a directory source, to paths relative to it;
// to the matches of a wildcard, relative to where the wildcard starts.
std::vector<FileSource> plain_sources(const fs::path& root, const ContextFilter& filter, const std::string& pattern,
                                      const IgnoreMatcher& excludes);

// `path` relative to `base`, both root-relative and clean; path is base itself or below it.
std::string path_below(const std::string& base, const std::string& path);

// --chown (names looked up in the image's /etc/passwd and /etc/group; with --link the
// filesystem is empty, so only numeric ids, as docker documents) and --chmod.
CopyAttributes file_step_attributes(const StageBuild& stage, const parser::Instruction& step, const ImageState& state,
                                    const parser::Environment& env);

// The destination of the step, expanded and joined to the working directory. `count` is
// the number of sources (more than one makes it a directory, as in BuildKit).
void set_destination(FileStep& file_step, const StageBuild& stage, const parser::Instruction& step,
                     const ImageState& state, const parser::Environment& env, std::size_t count);

// The step's heredoc sources (`COPY <<EOF /dst`), each written to a file in `dir` with mode
// 0644 and the build's time, its body expanded as BuildKit does unless the delimiter was
// quoted. Appends {"heredoc": name, "digest": ...} to `digests`.
std::vector<FileSource> heredoc_sources(const StageBuild& stage, const parser::Instruction& step,
                                        const parser::Environment& env, const fs::path& dir, nlohmann::json& digests);

// Expands a heredoc body as BuildKit does: $VAR and ${...} and backslash escapes, but
// quotes are kept as written.
std::string expand_heredoc(std::string_view body, const parser::Environment& env);

// Completes `record` with what every COPY/ADD record holds, then writes the sources into a
// new snapshot unless the cache has the result. With --link the sources are written into an
// empty filesystem and the record leaves out the parent, so the cached layer is reused (and
// stacked on whatever parent the step has now) when earlier steps change.
// `late_sources`, when given, adds sources after file_step's when the step actually runs
// (ADD's downloads, which a cache hit with --checksum never needs).
void run_file_step(StageBuild& stage, const parser::Instruction& step, ImageState& state, const FileStep& file_step,
                   nlohmann::json record, const std::function<std::vector<FileSource>()>& late_sources = {});

// Writes the sources into `snapshot` following docker's destination rules; `lower` is a
// read-only view of the filesystem below (an empty directory for --link).
void write_sources(const FileStep& file_step, const fs::path& snapshot, const fs::path& lower);

} // namespace strata::builder
