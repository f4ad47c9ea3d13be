// The build driver: parse, build the stages the target needs (independent ones at the same
// time, each as soon as the stages it uses are done), then assemble, store and tag the image.
#include "builder/builder.hpp"

#include "builder/stage.hpp"
#include "sandbox/view.hpp"
#include "util/error.hpp"

#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace strata::builder {

namespace {

int default_jobs() {
    const unsigned cores = std::thread::hardware_concurrency();
    return cores == 0 ? 1 : static_cast<int>(cores);
}

class Build {
public:
    Build(store::Store& store, Executor& executor, const BuildOptions& options, std::ostream& out)
        : store_(store), executor_(executor), options_(options), progress_(out, options.progress, options.terminal_fd) {}

    BuildResult run() {
        parser::ParseOptions parse_options;
        parse_options.filename = options_.buildfile_name;
        parse_options.build_args = options_.build_args;
        parse_options.target = options_.target;
        parse_options.predefined_args = predefined_args();
        dag_ = parser::parse_buildfile(options_.buildfile_text, parse_options);
        ignore_ = load_context_ignore(options_.context_dir, options_.buildfile_path);

        // With a lock, every image the target uses must be in it, checked before anything runs.
        if (options_.lock) check_lock_covers(*options_.lock, image_uses(dag_, dag_.build_order), host_platform());
        ContextHashes context_hashes(store_, options_.context_dir);
        BaseImages images(store_, options_.pull, options_.puller, options_.lock ? &*options_.lock : nullptr);
        const BuildShared shared{store_, executor_, options_, dag_, ignore_, progress_, context_hashes, images,
                                 [this](int index) -> const ImageState& { return finished(index); }, cancelled_,
                                 used_steps_};
        build_stages(shared);
        context_hashes.save();
        BuildResult result = commit_image(finished(dag_.target));
        result.cache_steps = used_steps_.take();
        for (std::optional<int> at = dag_.target; at; at = dag_.stages.at(static_cast<std::size_t>(*at)).base_stage)
            result.image_stages.insert(*at);
        return result;
    }

private:
    // ----- the stage scheduler

    // Starts every stage whose dependencies are done, up to `jobs` at once, and waits for
    // all. The first failure stops new stages and tells running ones to stop after their
    // current step; it is rethrown once every thread has ended.
    void build_stages(const BuildShared& shared) {
        const std::size_t jobs = static_cast<std::size_t>(options_.jobs > 0 ? options_.jobs : default_jobs());
        std::set<int> waiting(dag_.build_order.begin(), dag_.build_order.end());
        std::vector<std::jthread> threads;
        std::unique_lock lock(mutex_);
        while (true) {
            if (!failure_)
                for (auto it = waiting.begin(); it != waiting.end() && running_ < jobs;) {
                    if (!ready(*it)) { ++it; continue; }
                    ++running_;
                    threads.emplace_back([this, &shared, index = *it] { build_stage(shared, index); });
                    it = waiting.erase(it);
                }
            if (running_ == 0 && (failure_ || waiting.empty())) break;
            changed_.wait(lock);
        }
        lock.unlock();
        threads.clear();  // joins
        if (failure_) std::rethrow_exception(failure_);
    }

    bool ready(int index) const {
        for (int dep : dag_.stages.at(static_cast<std::size_t>(index)).deps)
            if (!stages_.count(dep)) return false;
        return true;
    }

    void build_stage(const BuildShared& shared, int index) {
        std::exception_ptr error;
        std::optional<ImageState> state;
        try {
            state = StageBuild(shared, dag_.stages.at(static_cast<std::size_t>(index))).run();
        } catch (...) {
            error = std::current_exception();
        }
        std::lock_guard lock(mutex_);
        if (state) stages_.emplace(index, std::move(*state));
        if (error && !failure_ && !is_cancellation(error)) {
            failure_ = error;
            cancelled_ = true;
        }
        --running_;
        changed_.notify_all();
    }

    static bool is_cancellation(const std::exception_ptr& error) {
        try {
            std::rethrow_exception(error);
        } catch (const Cancelled&) {
            return true;
        } catch (...) {
            return false;
        }
    }

    const ImageState& finished(int index) {
        std::lock_guard lock(mutex_);
        return stages_.at(index);  // std::map nodes do not move: the reference stays valid
    }

    // ----- the image

    BuildResult commit_image(ImageState state) {
        state.config["created"] = state.created;
        for (const auto& [key, value] : options_.labels) state.runtime_config()["Labels"][key] = value;
        std::map<std::string, std::string> annotations;
        if (!state.base_digest.empty()) {
            if (!state.base_name.empty()) annotations["org.opencontainers.image.base.name"] = state.base_name;
            annotations["org.opencontainers.image.base.digest"] = state.base_digest;
        }
        const store::Descriptor manifest = store_.write_image(state.config, state.layers, annotations);
        BuildResult result;
        result.manifest = manifest;
        result.config_digest = store_.load_image(manifest).manifest["config"]["digest"].get<std::string>();
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

    std::mutex mutex_;  // guards the scheduler's state below
    std::condition_variable changed_;
    std::map<int, ImageState> stages_;  // finished stages
    std::size_t running_ = 0;
    std::exception_ptr failure_;
    std::atomic<bool> cancelled_ = false;
    UsedSteps used_steps_;
};

} // namespace

BuildResult build(store::Store& store, Executor& executor, const BuildOptions& options, std::ostream& progress) {
    require_host_platform(options.platform, "--platform " + options.platform);
    // COPY mounts read-only views of layer chains; in a private mount namespace the kernel
    // removes them even when strata is killed.
    sandbox::enter_private_mount_namespace();
    return Build(store, executor, options, progress).run();
}

} // namespace strata::builder
