// The build driver: parse, build the stages the target needs in dependency order, then
// assemble, store and tag the image.
#include "builder/builder.hpp"

#include "builder/stage.hpp"
#include "sandbox/view.hpp"
#include "util/error.hpp"

#include <map>

namespace strata::builder {

namespace {

class Build {
public:
    Build(store::Store& store, Executor& executor, const BuildOptions& options, std::ostream& out)
        : store_(store), executor_(executor), options_(options), progress_(out, options.progress, options.run_output_fd) {}

    BuildResult run() {
        parser::ParseOptions parse_options;
        parse_options.filename = options_.buildfile_name;
        parse_options.build_args = options_.build_args;
        parse_options.target = options_.target;
        parse_options.predefined_args = predefined_args();
        dag_ = parser::parse_buildfile(options_.buildfile_text, parse_options);
        ignore_ = load_context_ignore(options_.context_dir, options_.buildfile_path);

        ContextHashes context_hashes;
        const BuildShared shared{store_, executor_, options_, dag_, ignore_, progress_, context_hashes,
                                 [this](int index) -> const ImageState& { return stages_.at(index); }};
        for (int index : dag_.build_order)
            stages_.emplace(index, StageBuild(shared, dag_.stages.at(static_cast<std::size_t>(index))).run());
        return commit_image(stages_.at(dag_.target));
    }

private:
    BuildResult commit_image(ImageState state) {
        state.config["created"] = state.created;
        const store::Descriptor manifest = store_.write_image(state.config, state.layers);
        BuildResult result{manifest, store_.load_image(manifest).manifest["config"]["digest"].get<std::string>()};
        for (const auto& tag : options_.tags) {
            store_.tag(tag, manifest);
            progress_.message("naming to " + store::normalize_tag(tag));
        }
        progress_.message("writing image " + manifest.digest);
        return result;
    }

    store::Store& store_;
    Executor& executor_;
    const BuildOptions& options_;
    Progress progress_;
    parser::Dag dag_;
    IgnoreMatcher ignore_;
    std::map<int, ImageState> stages_;
};

} // namespace

BuildResult build(store::Store& store, Executor& executor, const BuildOptions& options, std::ostream& progress) {
    // COPY mounts read-only views of layer chains; in a private mount namespace the kernel
    // removes them even when strata is killed.
    sandbox::enter_private_mount_namespace();
    return Build(store, executor, options, progress).run();
}

} // namespace strata::builder
