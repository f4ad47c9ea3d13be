#pragma once
// What a step sees while its stage is built: the build's shared parts (store, options, the
// parsed DAG, finished stages, progress) and the stage's own scope (ARGs, CMD seen). Each
// instruction that touches the filesystem lives in its own file as a function of these.
#include "builder/builder.hpp"
#include "builder/cache.hpp"
#include "builder/context_hashes.hpp"
#include "builder/image_state.hpp"
#include "builder/ignore.hpp"
#include "builder/progress.hpp"
#include "util/fs.hpp"

#include "util/error.hpp"

#include <atomic>
#include <functional>
#include <initializer_list>
#include <string_view>
#include <map>
#include <string>
#include <vector>

namespace strata::builder {

struct BuildShared {
    store::Store& store;
    Executor& executor;
    const BuildOptions& options;
    const parser::Dag& dag;
    const IgnoreMatcher& ignore;  // the context's .dockerignore
    Progress& progress;
    ContextHashes& context_hashes;
    BaseImages& images;  // FROM, COPY --from and RUN --mount from= images, pulled as --pull says
    // The final state of a stage this one depends on; it is finished before this one starts.
    std::function<const ImageState&(int stage_index)> finished_stage;
    // Set when another stage failed: this one stops before its next step.
    const std::atomic<bool>& cancelled;
    UsedSteps& used_steps;  // every step's cache entry, for --cache-to
};

// Thrown by a stage that stopped because another one failed; not the build's error.
class Cancelled : public Error {
public:
    Cancelled() : Error("cancelled: another stage failed") {}
};

// Throws for a flag of `step` that is not in `implemented`: ignoring a flag would build a
// different image than docker without a word, which is worse than failing.
void refuse_flags_except(const parser::Instruction& step, std::initializer_list<std::string_view> implemented);

class StageBuild {
public:
    StageBuild(const BuildShared& build, const parser::Stage& stage) : build(build), stage(stage) {}

    ImageState run();

    const BuildShared& build;
    const parser::Stage& stage;

    // ----- for the steps

    const StepRef& current_step() const { return current_; }
    // Variables for ${...} in the Buildfile: ARGs in scope, overridden by ENV.
    parser::Environment expansion_env(const ImageState& state) const;
    std::string expand(const std::string& word, const parser::Environment& env) const;
    // RUN's environment: the image's Env plus ARGs that ENV does not override, plus proxy
    // variables given with --build-arg.
    std::vector<std::string> run_env(const ImageState& state) const;
    std::string epoch_time_or(const std::string& fallback) const;

    // Runs `produce` into a fresh snapshot unless the cache has the output of the step that
    // `record` describes, then moves the state to the new filesystem (step_cache.cpp).
    void apply_step(const parser::Instruction& step, ImageState& state, const nlohmann::json& record,
                    const std::function<void(TempDir& snapshot)>& produce);

private:
    ImageState base_state();
    void perform(StepRef ref, const std::function<void()>& work);  // one step, reported
    std::string from_location() const;
    std::vector<parser::Instruction> onbuild_triggers(ImageState& state) const;
    void dispatch(const parser::Instruction& step, ImageState& state);
    void arg_step(const parser::Instruction& step, const ImageState& state);
    std::optional<std::string> global_arg(const std::string& name) const;
    StepOutput produce_output(const ImageState& state, const std::function<void(TempDir&)>& produce);

    StepRef current_;
    std::map<std::string, std::string> args_;  // ARG values in scope
    bool cmd_set_in_stage_ = false;
};

// The instructions that write files; each in its own file.
void run_step(StageBuild& stage, const parser::Instruction& step, ImageState& state);   // run_step.cpp
void copy_step(StageBuild& stage, const parser::Instruction& step, ImageState& state);  // copy_step.cpp
void add_step(StageBuild& stage, const parser::Instruction& step, ImageState& state);   // add_step.cpp
void workdir_step(StageBuild& stage, const parser::Instruction& step, ImageState& state);  // workdir_step.cpp

// Helpers shared by the driver and the steps.
std::string host_platform();
// "linux/amd64" for "amd64", "linux/x86_64", "Linux/AMD64"...: os/arch[/variant] as OCI names them.
std::string normalize_platform(std::string text);
// Throws, naming `what`, unless `platform` is empty or the host's.
void require_host_platform(const std::string& platform, const std::string& what);
const std::map<std::string, std::string>& predefined_args();  // BuildKit's platform ARGs
bool is_proxy_arg(const std::string& name);
std::string now_rfc3339();
std::string location_of(const parser::Instruction& step, const std::string& file);

} // namespace strata::builder
