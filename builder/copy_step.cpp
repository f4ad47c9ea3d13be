// COPY: sources matched in the context (less .dockerignore) or in another stage's
// filesystem, hashed for the cache key, then copied into a new snapshot with docker's
// destination rules.
#include "builder/copy.hpp"
#include "builder/paths.hpp"
#include "builder/stage.hpp"
#include "sandbox/sandbox.hpp"
#include "sandbox/view.hpp"
#include "util/error.hpp"

#include <sys/stat.h>

namespace strata::builder {

namespace {

// --chown names are looked up in the destination image's /etc/passwd and /etc/group;
// a user without a group uses the uid as gid, as docker documents.
CopyAttributes copy_attributes(const StageBuild& stage, const parser::Instruction& step, const ImageState& state,
                               const parser::Environment& env) {
    CopyAttributes attributes;
    if (!step.chown.empty()) {
        const std::string owner = stage.expand(step.chown, env);
        const auto user = sandbox::resolve_user(owner, state.snapshot_dirs_topmost_first(stage.build.store));
        attributes.uid = user.uid;
        attributes.gid = owner.find(':') == std::string::npos ? user.uid : user.gid;
    }
    if (!step.chmod.empty()) attributes.chmod = ModeChange::parse(stage.expand(step.chmod, env));
    return attributes;
}

void refuse_unsupported(const parser::Instruction& step) {
    for (const auto& flag : step.flag_names)
        if (flag != "from" && flag != "chown" && flag != "chmod") throw Error("COPY --" + flag + " is not supported by the builder yet");
    if (!step.heredocs.empty()) throw Error("COPY from a heredoc is not supported by the builder yet");
    if (!step.copy_from.empty() && !step.copy_from_stage)
        throw Error("COPY --from=" + step.copy_from + ": copying from an image is not supported yet");
}

void write_copy(const std::vector<CopySource>& sources, const std::string& dest_path, bool dest_is_dir,
                const fs::path& snapshot, const fs::path& lower, const ContextFilter& filter,
                const CopyAttributes& attributes) {
    // Follow symlinks of the existing filesystem for the destination, so that COPY to
    // /bin/x on a usr-merged image writes /usr/bin/x instead of hiding the /bin link.
    const fs::path dest_rel = resolve_relative(lower, dest_path, false);
    struct stat st {};
    const bool existing_dir = ::stat((lower / dest_rel).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    const bool into_dir = dest_is_dir || existing_dir;
    for (const auto& source : sources) {
        const bool contents = source.is_dir;
        const fs::path target_rel = (contents || !into_dir) ? dest_rel : dest_rel / source.path.filename();
        const std::string parent = contents ? target_rel.string() : target_rel.parent_path().string();
        make_parent_dirs(snapshot, lower, parent, attributes);
        copy_entry(source, snapshot / target_rel, filter, attributes);
    }
}

} // namespace

void copy_step(StageBuild& stage, const parser::Instruction& step, ImageState& state) {
    const BuildShared& build = stage.build;
    const auto env = stage.expansion_env(state);
    refuse_unsupported(step);
    TempDir source_view_dir(build.store.tmp_dir(), "view-");
    std::vector<fs::path> from_layers;
    if (step.copy_from_stage) from_layers = build.finished_stage(*step.copy_from_stage).snapshot_dirs_topmost_first(build.store);
    const sandbox::ReadOnlyView from_view(from_layers, source_view_dir.path());
    const fs::path root = step.copy_from_stage ? from_view.path() : build.options.context_dir;
    const ContextFilter filter = step.copy_from_stage ? ContextFilter() : ContextFilter(build.ignore);

    std::vector<CopySource> sources;
    for (const auto& word : step.sources)
        for (const auto& pattern : parser::expand_words(word, env, build.dag.escape))
            for (auto& s : match_sources(root, pattern, filter)) sources.push_back(std::move(s));

    const CopyAttributes attributes = copy_attributes(stage, step, state, env);
    std::string dest = stage.expand(step.dest, env);
    // BuildKit treats ".", "" and a trailing "/" as "into this directory".
    const bool dest_is_dir =
        dest.empty() || dest == "." || dest.ends_with("/") || dest.ends_with("/.") || sources.size() > 1;
    const std::string dest_path = join_container_path(state.working_dir(), dest);

    json source_digests = json::array();
    for (const auto& s : sources)
        source_digests.push_back({{"pattern", s.pattern}, {"digest", build.context_hashes.digest(s, filter)}});
    const json record = {
        {"op", "copy"},
        {"parent", state.top_chain_id()},
        {"from", step.copy_from_stage ? build.finished_stage(*step.copy_from_stage).top_chain_id() : "context"},
        {"dest", dest_path},
        {"dest_is_dir", dest_is_dir},
        {"owner", std::to_string(attributes.uid) + ":" + std::to_string(attributes.gid)},
        {"chmod", stage.expand(step.chmod, env)},
        {"sources", source_digests}};

    stage.apply_step(step, state, record, [&](TempDir& snapshot) {
        TempDir lower_view_dir(build.store.tmp_dir(), "view-");
        const sandbox::ReadOnlyView lower(state.snapshot_dirs_topmost_first(build.store), lower_view_dir.path());
        write_copy(sources, dest_path, dest_is_dir, snapshot.path(), lower.path(), filter, attributes);
    });
}

} // namespace strata::builder
