// The build driver: parse, then for each stage in dependency order run its steps.
// Each step is (1) described as a cache record, (2) reused when the store has its output,
// (3) otherwise executed into a new snapshot that becomes a layer.
#include "builder/builder.hpp"

#include "builder/cache.hpp"
#include "builder/copy.hpp"
#include "builder/image_state.hpp"
#include "builder/metadata.hpp"
#include "builder/paths.hpp"
#include "sandbox/view.hpp"
#include "util/error.hpp"

#include <chrono>
#include <ctime>
#include <sys/stat.h>
#include <map>
#include <set>

namespace strata::builder {

namespace {

std::string location_of(const parser::Instruction& step, const std::string& file) {
    return file + ":" + std::to_string(step.loc.line) + ":" + std::to_string(step.loc.column);
}

class Build {
public:
    Build(store::Store& store, Executor& executor, const BuildOptions& options, std::ostream& progress)
        : store_(store), executor_(executor), options_(options), out_(progress) {}

    BuildResult run() {
        parser::ParseOptions parse_options;
        parse_options.filename = options_.buildfile_name;
        parse_options.build_args = options_.build_args;
        parse_options.target = options_.target;
        parse_options.predefined_args = predefined_args();
        dag_ = parser::parse_buildfile(options_.buildfile_text, parse_options);
        ignore_ = load_context_ignore(options_.context_dir, options_.buildfile_path);

        for (int index : dag_.build_order) stages_[index] = build_stage(dag_.stages.at(static_cast<std::size_t>(index)));
        return commit_image(stages_.at(dag_.target));
    }

private:
    // ----- stages

    ImageState build_stage(const parser::Stage& stage) {
        const std::string label = stage.name.empty() ? "stage-" + std::to_string(stage.index) : stage.name;
        const std::size_t total = stage.steps.size() + 1;
        out_ << "[" << label << " 1/" << total << "] FROM " << describe_base(stage) << "\n";
        ImageState state = base_state(stage);
        args_.clear();
        cmd_set_in_stage_ = false;
        for (std::size_t i = 0; i < stage.steps.size(); ++i) {
            const auto& step = stage.steps[i];
            out_ << "[" << label << " " << (i + 2) << "/" << total << "] " << step.original << std::flush;
            try {
                with_context(location_of(step, options_.buildfile_name), [&] { dispatch(step, state); });
            } catch (...) {
                out_ << "\n" << std::flush;  // end the step's progress line before the error is printed
                throw;
            }
        }
        return state;
    }

    std::string describe_base(const parser::Stage& stage) const {
        if (stage.base_stage) return dag_.stages.at(static_cast<std::size_t>(*stage.base_stage)).name;
        return stage.base;
    }

    ImageState base_state(const parser::Stage& stage) {
        if (!stage.platform.empty() && stage.platform != host_platform())
            throw Error(options_.buildfile_name + ":" + std::to_string(stage.loc.line) + ": FROM --platform=" +
                        stage.platform + ": only the host platform (" + host_platform() +
                        ") can be built; there is no emulation");
        if (stage.base_stage) return stages_.at(*stage.base_stage);
        if (stage.base == "scratch") return scratch_state(epoch_time_or(format_rfc3339(0)));
        const auto descriptor = store_.resolve(stage.base);
        if (!descriptor)
            throw Error(options_.buildfile_name + ":" + std::to_string(stage.loc.line) + ": base image '" + stage.base +
                        "' is not in the store (build or load it first; pulling is not supported yet)");
        const store::Image image = store_.load_image(*descriptor);
        if (image.config.contains("config") && image.config["config"].is_object() &&
            image.config["config"].contains("OnBuild") && !image.config["config"]["OnBuild"].empty())
            throw Error(options_.buildfile_name + ":" + std::to_string(stage.loc.line) + ": base image '" + stage.base +
                        "' has ONBUILD triggers, which the builder does not run yet");
        store_.ensure_snapshots(image);
        return state_from_image(image);
    }

    // ----- steps

    void dispatch(const parser::Instruction& step, ImageState& state) {
        refuse_unsupported(step);
        if (is_metadata(step.kind)) {
            MetadataContext context{expansion_env(state), dag_.escape, cmd_set_in_stage_};
            apply_metadata(step, state, context);
            cmd_set_in_stage_ = context.cmd_set_in_stage;
            out_ << "\n";
            return;
        }
        switch (step.kind) {
        case parser::Kind::run: return run_step(step, state);
        case parser::Kind::copy: return copy_step(step, state);
        case parser::Kind::arg: return arg_step(step, state);
        default: break;  // the parser knows more instructions than the builder runs yet
        }
        throw Error(std::string(parser::kind_name(step.kind)) + " is not supported by the builder yet");
    }

    // Ignoring a flag or a heredoc would build a different image than docker without a
    // word, which is worse than failing.
    static void refuse_unsupported(const parser::Instruction& step) {
        const std::string name(parser::kind_name(step.kind));
        for (const auto& flag : step.flag_names) {
            if (step.kind == parser::Kind::copy && (flag == "from" || flag == "chown" || flag == "chmod")) continue;
            if (step.kind == parser::Kind::healthcheck) continue;  // all its flags land in the config
            throw Error(name + " --" + flag + " is not supported by the builder yet");
        }
        if (step.kind == parser::Kind::copy && !step.heredocs.empty())
            throw Error("COPY from a heredoc is not supported by the builder yet");
        if (step.kind == parser::Kind::run && step.heredocs.size() == 1 && step.heredocs[0].data().starts_with("#!"))
            throw Error("RUN with a heredoc script (#!) is not supported by the builder yet");
    }

    void arg_step(const parser::Instruction& step, ImageState& state) {
        const auto env = expansion_env(state);
        for (const auto& kv : step.pairs) {
            if (auto it = options_.build_args.find(kv.key); it != options_.build_args.end()) {
                args_[kv.key] = it->second;
            } else if (kv.value) {
                args_[kv.key] = expand(*kv.value, env);
            } else if (auto global = global_arg(kv.key)) {
                args_[kv.key] = *global;
            } else if (auto predefined = predefined_args().find(kv.key); predefined != predefined_args().end()) {
                args_[kv.key] = predefined->second;  // `ARG TARGETARCH` makes BuildKit's value visible
            }
        }
        out_ << "\n";  // docker records no history for ARG
    }

    void run_step(const parser::Instruction& step, ImageState& state) {
        const std::vector<std::string> argv = shell_or_exec(step, state);
        const std::vector<std::string> env = run_env(state);
        const std::string cwd = state.working_dir().empty() ? "/" : state.working_dir();
        const json record = {{"op", "run"},    {"parent", state.top_chain_id()}, {"argv", argv}, {"env", env},
                             {"cwd", cwd},     {"user", state.user()},           {"network", "host"}};
        apply_step(step, state, record, [&](TempDir& upper) { execute(state, argv, env, cwd, upper); });
    }

    void execute(const ImageState& state, const std::vector<std::string>& argv,
                 const std::vector<std::string>& env, const std::string& cwd, TempDir& upper) {
        const TempDir scratch(store_.tmp_dir(), "run-");
        const fs::path work = scratch.path() / "work";
        const fs::path sandbox_state = scratch.path() / "state";
        make_dirs(work);
        make_dirs(sandbox_state);

        sandbox::Spec spec;
        spec.lower_dirs = state.snapshot_dirs_topmost_first(store_);
        spec.upper_dir = upper.path();
        spec.work_dir = work;
        spec.state_dir = sandbox_state;
        spec.argv = argv;
        spec.env = env;
        spec.cwd = cwd;
        const auto user = sandbox::resolve_user(state.user(), spec.lower_dirs);
        spec.uid = user.uid;
        spec.gid = user.gid;
        spec.groups = user.groups;
        spec.limits = options_.limits;
        spec.stdin_fd = -1;
        spec.stdout_fd = options_.run_output_fd;
        spec.stderr_fd = options_.run_output_fd;

        const sandbox::Result result = executor_.run(spec);
        if (!result.exec_error.empty()) throw Error("RUN cannot start: " + result.exec_error);
        if (result.oom_killed) throw Error("RUN was killed: " + sandbox::describe_oom(options_.limits) + ": " + quote_argv(argv));
        if (result.exit_code != 0)
            throw Error("RUN failed with exit code " + std::to_string(result.exit_code) + ": " + quote_argv(argv));
    }

    static std::string quote_argv(const std::vector<std::string>& argv) {
        std::string s;
        for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
        return s;
    }

    void copy_step(const parser::Instruction& step, ImageState& state) {
        const auto env = expansion_env(state);
        const fs::path source_root = copy_source_root(step);
        TempDir source_view_dir(store_.tmp_dir(), "view-");
        std::vector<fs::path> from_layers;
        if (step.copy_from_stage) from_layers = stages_.at(*step.copy_from_stage).snapshot_dirs_topmost_first(store_);
        const sandbox::ReadOnlyView from_view(from_layers, source_view_dir.path());
        const fs::path root = step.copy_from_stage ? from_view.path() : source_root;
        const ContextFilter filter = step.copy_from_stage ? ContextFilter() : ContextFilter(ignore_);

        std::vector<CopySource> sources;
        for (const auto& word : step.sources)
            for (const auto& pattern : parser::expand_words(word, env, dag_.escape))
                for (auto& s : match_sources(root, pattern, filter)) sources.push_back(std::move(s));

        const CopyAttributes attributes = copy_attributes(step, state, env);
        std::string dest = expand(step.dest, env);
        // BuildKit treats ".", "" and a trailing "/" as "into this directory".
        const bool dest_is_dir = dest.empty() || dest == "." || dest.ends_with("/") || dest.ends_with("/.") ||
                                 sources.size() > 1;
        const std::string dest_path = join_container_path(state.working_dir(), dest);

        json source_digests = json::array();
        for (const auto& s : sources) source_digests.push_back({{"pattern", s.pattern}, {"digest", hash_source(s, filter)}});
        const json record = {{"op", "copy"},
                             {"parent", state.top_chain_id()},
                             {"from", step.copy_from_stage ? stages_.at(*step.copy_from_stage).top_chain_id() : "context"},
                             {"dest", dest_path},
                             {"dest_is_dir", dest_is_dir},
                             {"owner", std::to_string(attributes.uid) + ":" + std::to_string(attributes.gid)},
                             {"chmod", expand(step.chmod, env)},
                             {"sources", source_digests}};

        apply_step(step, state, record, [&](TempDir& snapshot) {
            TempDir lower_view_dir(store_.tmp_dir(), "view-");
            const sandbox::ReadOnlyView lower(state.snapshot_dirs_topmost_first(store_), lower_view_dir.path());
            write_copy(sources, dest_path, dest_is_dir, snapshot.path(), lower.path(), filter, attributes);
        });
    }

    // --chown names are looked up in the destination image's /etc/passwd and /etc/group;
    // a user without a group uses the uid as gid, as docker documents.
    CopyAttributes copy_attributes(const parser::Instruction& step, const ImageState& state,
                                   const parser::Environment& env) const {
        CopyAttributes attributes;
        if (!step.chown.empty()) {
            const std::string owner = expand(step.chown, env);
            const auto user = sandbox::resolve_user(owner, state.snapshot_dirs_topmost_first(store_));
            attributes.uid = user.uid;
            attributes.gid = owner.find(':') == std::string::npos ? user.uid : user.gid;
        }
        if (!step.chmod.empty()) attributes.chmod = ModeChange::parse(expand(step.chmod, env));
        return attributes;
    }

    fs::path copy_source_root(const parser::Instruction& step) const {
        if (!step.copy_from.empty() && !step.copy_from_stage)
            throw Error("COPY --from=" + step.copy_from + ": copying from an image is not supported yet");
        return options_.context_dir;
    }

    static void write_copy(const std::vector<CopySource>& sources, const std::string& dest_path, bool dest_is_dir,
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

    // Runs `produce` into a fresh snapshot unless the cache has the step's output, then
    // moves the state to the new filesystem.
    template <typename Produce>
    void apply_step(const parser::Instruction& step, ImageState& state, const json& record, Produce&& produce) {
        const std::string key = cache_key(record);
        std::optional<StepOutput> output;
        if (!options_.no_cache) output = cache_lookup(store_, key);
        if (output) {
            out_ << "  CACHED\n";
        } else {
            out_ << "\n" << std::flush;
            output = produce_output(state, produce);
            cache_remember(store_, key, record, *output);
        }
        if (output->layer) state.add_layer(*output->layer, output->diff_id, output->chain_id);
        state.created = newest(state.created, output->created);
        state.add_history(step.original, !output->layer);
    }

    template <typename Produce>
    StepOutput produce_output(const ImageState& state, Produce&& produce) {
        TempDir snapshot = store_.new_snapshot_staging();
        produce(snapshot);
        StepOutput output;
        output.created = epoch_time_or(now_rfc3339());
        output.chain_id = state.top_chain_id();
        if (fs::is_empty(snapshot.path())) return output;  // the step changed nothing: no layer
        store::LayerOptions layer_options;
        layer_options.source_date_epoch = options_.source_date_epoch;
        const store::Layer layer = store_.write_layer(snapshot.path(), layer_options);
        output.layer = layer.descriptor;
        output.diff_id = layer.diff_id;
        output.chain_id = state.top_chain_id().empty() ? layer.diff_id : store::next_chain_id(state.top_chain_id(), layer.diff_id);
        store_.commit_snapshot(std::move(snapshot), output.chain_id);
        return output;
    }

    // ----- environments

    static std::string host_platform() { return "linux/" + oci_architecture(); }

    // BuildKit's automatic platform ARGs. Build and target platform are the host's.
    static const std::map<std::string, std::string>& predefined_args() {
        static const std::map<std::string, std::string> args = {
            {"BUILDPLATFORM", host_platform()}, {"BUILDOS", "linux"},  {"BUILDARCH", oci_architecture()},
            {"BUILDVARIANT", ""},               {"TARGETPLATFORM", host_platform()}, {"TARGETOS", "linux"},
            {"TARGETARCH", oci_architecture()}, {"TARGETVARIANT", ""},
        };
        return args;
    }

    std::string expand(const std::string& word, const parser::Environment& env) const {
        return parser::expand_word(word, env, dag_.escape);
    }

    // Variables for ${...} in the Buildfile: ARGs in scope, overridden by ENV.
    parser::Environment expansion_env(const ImageState& state) const {
        parser::Environment env(args_.begin(), args_.end());
        for (const auto& [k, v] : state.env()) env[k] = v;
        return env;
    }

    // RUN's environment: the image's Env plus ARGs that ENV does not override, plus the
    // proxy variables given with --build-arg, which docker passes without a declaration.
    std::vector<std::string> run_env(const ImageState& state) const {
        std::vector<std::string> env = state.env_list();
        const auto image_env = state.env();
        std::map<std::string, std::string> extra = args_;
        for (const auto& [k, v] : options_.build_args)
            if (is_proxy_arg(k)) extra.emplace(k, v);
        for (const auto& [k, v] : extra)
            if (!image_env.count(k)) env.push_back(k + "=" + v);
        return env;
    }

    static bool is_proxy_arg(const std::string& name) {
        static const std::set<std::string> names = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                                    "FTP_PROXY",  "ftp_proxy",  "NO_PROXY",    "no_proxy",
                                                    "ALL_PROXY",  "all_proxy"};
        return names.count(name) > 0;
    }

    // A global ARG (before the first FROM) redeclared in the stage without a default.
    // The parser already applied --build-arg and expanded the defaults.
    std::optional<std::string> global_arg(const std::string& name) const {
        for (const auto& kv : dag_.global_args)
            if (kv.key == name) return kv.value;
        return std::nullopt;
    }

    // ----- the image

    BuildResult commit_image(ImageState state) {
        state.config["created"] = state.created;
        const store::Descriptor manifest = store_.write_image(state.config, state.layers);
        BuildResult result{manifest, store_.load_image(manifest).manifest["config"]["digest"].get<std::string>()};
        for (const auto& tag : options_.tags) {
            store_.tag(tag, manifest);
            out_ << "naming to " << store::normalize_tag(tag) << "\n";
        }
        out_ << "writing image " << manifest.digest << "\n";
        return result;
    }

    std::string now_rfc3339() const {
        return format_rfc3339(std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count());
    }

    std::string epoch_time_or(const std::string& fallback) const {
        return options_.source_date_epoch ? format_rfc3339(*options_.source_date_epoch) : fallback;
    }

    // RFC 3339 UTC strings of one shape compare correctly as text.
    static std::string newest(const std::string& a, const std::string& b) { return a < b ? b : a; }

    store::Store& store_;
    Executor& executor_;
    const BuildOptions& options_;
    std::ostream& out_;
    parser::Dag dag_;
    IgnoreMatcher ignore_;  // the context's .dockerignore
    std::map<int, ImageState> stages_;
    std::map<std::string, std::string> args_;  // ARG values in scope in the current stage
    bool cmd_set_in_stage_ = false;
};

} // namespace

BuildResult build(store::Store& store, Executor& executor, const BuildOptions& options, std::ostream& progress) {
    // COPY mounts read-only views of layer chains; in a private mount namespace the kernel
    // removes them even when strata is killed.
    sandbox::enter_private_mount_namespace();
    return Build(store, executor, options, progress).run();
}

} // namespace strata::builder
