// COPY: sources matched in the context (less .dockerignore and --exclude), in another
// stage's filesystem or in an image of the store, plus heredocs; hashed for the cache key,
// then copied into a new snapshot with docker's destination rules (file_step.cpp).
#include "builder/file_step.hpp"
#include "builder/paths.hpp"
#include "sandbox/view.hpp"
#include "util/error.hpp"

#include <algorithm>
#include <memory>

namespace strata::builder {

namespace {

// Where COPY reads from: the context, a finished stage, or an image in the store, the
// last two through a read-only view of their layers that lives as long as this object.
class CopyRoot {
public:
    CopyRoot(StageBuild& stage, const parser::Instruction& step) : view_dir_(stage.build.store.tmp_dir(), "view-") {
        const BuildShared& build = stage.build;
        std::vector<fs::path> layers;
        if (step.copy_from_stage) {
            const ImageState& from = build.finished_stage(*step.copy_from_stage);
            layers = from.snapshot_dirs_topmost_first(build.store);
            from_ = from.top_chain_id();
            in_context_ = false;
        } else if (!step.copy_from.empty()) {
            const std::string& reference = step.copy_from_expanded.empty() ? step.copy_from : step.copy_from_expanded;
            const auto base = build.images.resolve(reference, "COPY --from=" + reference + " (no stage of that name)");
            const store::Image image = build.store.load_image(base.manifest);
            layers = build.store.ensure_snapshots(image);
            std::reverse(layers.begin(), layers.end());  // the view wants the topmost first
            from_ = image.manifest_descriptor.digest;
            in_context_ = false;
        }
        view_ = std::make_unique<sandbox::ReadOnlyView>(layers, view_dir_.path());
        root_ = in_context_ ? build.options.context_dir : view_->path();
        filter_ = in_context_ ? ContextFilter(build.ignore) : ContextFilter();
    }

    const fs::path& root() const { return root_; }
    const ContextFilter& filter() const { return filter_; }
    // For the cache record: "context", a stage's top chain id or an image's manifest digest.
    const std::string& from() const { return from_; }

private:
    TempDir view_dir_;  // declared first: destroyed after the view is unmounted
    std::unique_ptr<sandbox::ReadOnlyView> view_;
    fs::path root_;
    ContextFilter filter_;
    std::string from_ = "context";
    bool in_context_ = true;
};

// `COPY --parents ./x/./y/*.txt /dst/`: each match keeps its path below the `./` pivot (the
// root when there is none) under the destination; --exclude sees that same path.
void add_parents_sources(const CopyRoot& root, const std::string& pattern, const IgnoreMatcher& excludes,
                         std::vector<FileSource>& out) {
    const auto pivot = pattern.find("/./");
    const std::string base = pivot == std::string::npos ? "" : clean_relative(pattern.substr(0, pivot)).string();
    for (auto& match : match_sources(root.root(), pattern, root.filter())) {
        FileSource source;
        source.parents = path_below(base, match.matched);
        source.filter = excludes.empty() ? root.filter() : root.filter().with_excludes(excludes, match.rel, source.parents);
        if (source.filter.excluded(source.parents, match.is_dir)) continue;
        source.name = fs::path(match.matched).filename().string();
        source.parents_root = root.root();
        source.parents_base = base;
        source.source = std::move(match);
        out.push_back(std::move(source));
    }
}

std::vector<std::string> expanded_excludes(const StageBuild& stage, const parser::Instruction& step,
                                           const parser::Environment& env) {
    std::vector<std::string> patterns;
    for (const auto& word : step.excludes) patterns.push_back(stage.expand(word, env));
    return patterns;
}

} // namespace

void copy_step(StageBuild& stage, const parser::Instruction& step, ImageState& state) {
    const BuildShared& build = stage.build;
    const auto env = stage.expansion_env(state);
    refuse_flags_except(step, {"from", "chown", "chmod", "link", "parents", "exclude"});
    const CopyRoot root(stage, step);
    const std::vector<std::string> exclude_patterns = expanded_excludes(stage, step, env);
    const IgnoreMatcher excludes(exclude_patterns);

    FileStep file_step;
    file_step.link = step.link;
    file_step.dest_is_dir = step.parents;  // --parents always copies into a directory
    const HashOptions hash_options = hash_options_for_chmod(stage.expand(step.chmod, env));
    nlohmann::json digests = nlohmann::json::array();
    for (const auto& word : step.sources) {
        if (parser::heredoc_word(word)) continue;
        for (const auto& pattern : parser::expand_words(word, env, build.dag.escape)) {
            std::vector<FileSource> found;
            if (step.parents) add_parents_sources(root, pattern, excludes, found);
            else found = plain_sources(root.root(), root.filter(), pattern, excludes);
            for (auto& source : found) {
                nlohmann::json entry = {{"pattern", source.source.pattern},
                                        {"digest", build.context_hashes.digest(source.source, source.filter, hash_options)}};
                if (step.parents) entry["parents"] = source.parents;
                digests.push_back(std::move(entry));
                file_step.sources.push_back(std::move(source));
            }
        }
    }
    TempDir heredoc_dir(build.store.tmp_dir(), "heredoc-");
    for (auto& source : heredoc_sources(stage, step, env, heredoc_dir.path(), digests))
        file_step.sources.push_back(std::move(source));

    file_step.attributes = file_step_attributes(stage, step, state, env);
    set_destination(file_step, stage, step, state, env, file_step.sources.size());
    nlohmann::json record = {{"op", "copy"}, {"from", root.from()}, {"sources", digests}};
    if (step.parents) record["parents"] = true;
    if (!exclude_patterns.empty()) record["excludes"] = exclude_patterns;
    run_file_step(stage, step, state, file_step, std::move(record));
}

} // namespace strata::builder
