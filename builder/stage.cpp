// One stage, step by step: its base, then each instruction dispatched to the metadata
// editor, ARG scoping, or a step that writes files.
#include "builder/stage.hpp"

#include "builder/metadata.hpp"
#include "util/error.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <set>

namespace strata::builder {

std::string location_of(const parser::Instruction& step, const std::string& file) {
    return file + ":" + std::to_string(step.loc.line) + ":" + std::to_string(step.loc.column);
}

std::string host_platform() { return "linux/" + oci_architecture(); }

std::string normalize_platform(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (text.find('/') == std::string::npos) text = "linux/" + text;  // "arm64" means linux/arm64
    const auto slash = text.find('/');
    std::string os = text.substr(0, slash), arch = text.substr(slash + 1), variant;
    if (const auto v = arch.find('/'); v != std::string::npos) {
        variant = arch.substr(v + 1);
        arch.resize(v);
    }
    // The names uname and compilers use, as containerd's platforms package maps them.
    if (arch == "x86_64" || arch == "x86-64") arch = "amd64";
    else if (arch == "aarch64") arch = "arm64";
    else if (arch == "i386" || arch == "i686") arch = "386";
    if (arch == "arm64" && variant == "v8") variant.clear();  // arm64's default variant
    if (arch == "amd64" && variant == "v1") variant.clear();
    return os + "/" + arch + (variant.empty() ? "" : "/" + variant);
}

void require_host_platform(const std::string& platform, const std::string& what) {
    if (platform.empty() || normalize_platform(platform) == host_platform()) return;
    throw Error(what + ": only the host platform (" + host_platform() + ") can be built; there is no emulation");
}

const std::map<std::string, std::string>& predefined_args() {
    // Build and target platform are the host's: there is no emulation.
    static const std::map<std::string, std::string> args = {
        {"BUILDPLATFORM", host_platform()}, {"BUILDOS", "linux"},  {"BUILDARCH", oci_architecture()},
        {"BUILDVARIANT", ""},               {"TARGETPLATFORM", host_platform()}, {"TARGETOS", "linux"},
        {"TARGETARCH", oci_architecture()}, {"TARGETVARIANT", ""},
    };
    return args;
}

bool is_proxy_arg(const std::string& name) {
    static const std::set<std::string> names = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                                "FTP_PROXY",  "ftp_proxy",  "NO_PROXY",    "no_proxy",
                                                "ALL_PROXY",  "all_proxy"};
    return names.count(name) > 0;
}

std::string now_rfc3339() {
    return format_rfc3339(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

namespace {

std::string stage_label(const parser::Stage& stage) {
    return stage.name.empty() ? "stage-" + std::to_string(stage.index) : stage.name;
}

std::string describe_base(const parser::Stage& stage, const parser::Dag& dag) {
    if (stage.base_stage) return dag.stages.at(static_cast<std::size_t>(*stage.base_stage)).name;
    return stage.base;
}

// Steps that write files (RUN, COPY, ADD) check their own flags.
void refuse_metadata_flags(const parser::Instruction& step) {
    if (step.kind == parser::Kind::healthcheck) return;  // all its flags land in the config
    refuse_flags_except(step, {});
}

} // namespace

void refuse_flags_except(const parser::Instruction& step, std::initializer_list<std::string_view> implemented) {
    for (const auto& flag : step.flag_names)
        if (std::find(implemented.begin(), implemented.end(), flag) == implemented.end())
            throw Error(std::string(parser::kind_name(step.kind)) + " --" + flag + " is not supported by the builder yet");
}

ImageState StageBuild::run() {
    const std::string label = stage_label(stage);
    std::size_t total = stage.steps.size() + 1;
    ImageState state;
    std::vector<parser::Instruction> triggers;
    perform({label, 1, total, "FROM " + describe_base(stage, build.dag), from_location()}, [&] {
        state = base_state();
        triggers = onbuild_triggers(state);
    });
    total += triggers.size();
    std::size_t number = 1;
    for (const auto& trigger : triggers)
        perform({label, ++number, total, "ONBUILD " + trigger.original, from_location()}, [&] { dispatch(trigger, state); });
    for (const auto& step : stage.steps)
        perform({label, ++number, total, step.original, location_of(step, build.options.buildfile_name)},
                [&] { dispatch(step, state); });
    return state;
}

void StageBuild::perform(StepRef ref, const std::function<void()>& work) {
    if (build.cancelled) throw Cancelled();
    current_ = std::move(ref);
    build.progress.step_started(current_);
    try {
        with_context(current_.location, work);
    } catch (const std::exception& e) {
        build.progress.step_failed(current_, e.what());
        throw;
    }
    build.progress.step_done(current_);
}

std::string StageBuild::from_location() const {
    return build.options.buildfile_name + ":" + std::to_string(stage.loc.line) + ":" + std::to_string(stage.loc.column);
}

// A base image's ONBUILD triggers run first in a stage built on it, as docker does; they
// are parsed as instructions of their own and are not passed on to this image.
std::vector<parser::Instruction> StageBuild::onbuild_triggers(ImageState& state) const {
    json& rc = state.runtime_config();
    if (!rc.contains("OnBuild") || !rc["OnBuild"].is_array() || rc["OnBuild"].empty()) {
        rc.erase("OnBuild");
        return {};
    }
    std::vector<parser::Instruction> triggers;
    for (const auto& text : rc["OnBuild"]) {
        if (!text.is_string()) throw Error("base image '" + stage.base + "' has an ONBUILD trigger that is not a string");
        parser::ParseOptions options;
        options.filename = "ONBUILD trigger of '" + stage.base + "'";
        options.build_args = build.options.build_args;
        options.predefined_args = predefined_args();
        // The trigger is parsed as the only instruction of a one-stage file; line 2 is the trigger.
        const parser::Dag dag = parser::parse_buildfile("FROM scratch\n" + text.get<std::string>() + "\n", options);
        for (const auto& step : dag.stages.at(0).steps) triggers.push_back(step);
    }
    rc.erase("OnBuild");
    return triggers;
}

ImageState StageBuild::base_state() {
    require_host_platform(stage.platform, "FROM --platform=" + stage.platform);
    if (stage.base_stage) return build.finished_stage(*stage.base_stage);
    if (stage.base == "scratch") return scratch_state(epoch_time_or(format_rfc3339(0)));
    const BaseImage base = build.images.resolve(stage.base, "FROM " + stage.base);
    const store::Image image = build.store.load_image(base.manifest);
    build.store.ensure_snapshots(image);
    ImageState state = state_from_image(image);
    // Which image this is, as OCI's base-image annotations say it (buildah writes them too).
    state.base_name = base.name;
    state.base_digest = base.manifest.digest;
    // SOURCE_DATE_EPOCH clamps every time this build records, a newer base's included:
    // the image's `created` and its new history entries are then the epoch.
    if (const auto epoch = build.options.source_date_epoch) state.created = std::min(state.created, format_rfc3339(*epoch));
    return state;
}

void StageBuild::dispatch(const parser::Instruction& step, ImageState& state) {
    if (step.kind == parser::Kind::workdir) return workdir_step(*this, step, state);
    if (is_metadata(step.kind)) {
        refuse_metadata_flags(step);
        MetadataContext context{expansion_env(state), build.dag.escape, cmd_set_in_stage_};
        apply_metadata(step, state, context);
        cmd_set_in_stage_ = context.cmd_set_in_stage;
        return;
    }
    switch (step.kind) {
    case parser::Kind::run: return run_step(*this, step, state);
    case parser::Kind::copy: return copy_step(*this, step, state);
    case parser::Kind::add: return add_step(*this, step, state);
    case parser::Kind::arg: refuse_metadata_flags(step); return arg_step(step, state);
    default: break;  // the parser knows more instructions than the builder runs yet
    }
    throw Error(std::string(parser::kind_name(step.kind)) + " is not supported by the builder yet");
}

void StageBuild::arg_step(const parser::Instruction& step, const ImageState& state) {
    for (const auto& kv : step.pairs) {
        if (auto it = build.options.build_args.find(kv.key); it != build.options.build_args.end()) {
            args_[kv.key] = it->second;
        } else if (kv.value) {
            args_[kv.key] = expand(*kv.value, expansion_env(state));
        } else if (auto global = global_arg(kv.key)) {
            args_[kv.key] = *global;
        } else if (auto predefined = predefined_args().find(kv.key); predefined != predefined_args().end()) {
            args_[kv.key] = predefined->second;  // `ARG TARGETARCH` makes BuildKit's value visible
        }
    }
    // docker records no history for ARG
}

// A global ARG (before the first FROM) redeclared in the stage without a default.
// The parser already applied --build-arg and expanded the defaults.
std::optional<std::string> StageBuild::global_arg(const std::string& name) const {
    for (const auto& kv : build.dag.global_args)
        if (kv.key == name) return kv.value;
    return std::nullopt;
}

parser::Environment StageBuild::expansion_env(const ImageState& state) const {
    parser::Environment env(args_.begin(), args_.end());
    for (const auto& [k, v] : state.env()) env[k] = v;
    return env;
}

std::string StageBuild::expand(const std::string& word, const parser::Environment& env) const {
    return parser::expand_word(word, env, build.dag.escape);
}

std::vector<std::string> StageBuild::run_env(const ImageState& state) const {
    std::vector<std::string> env = state.env_list();
    const auto image_env = state.env();
    std::map<std::string, std::string> extra = args_;
    for (const auto& [k, v] : build.options.build_args)
        if (is_proxy_arg(k)) extra.emplace(k, v);
    for (const auto& [k, v] : extra)
        if (!image_env.count(k)) env.push_back(k + "=" + v);
    return env;
}

std::string StageBuild::epoch_time_or(const std::string& fallback) const {
    return build.options.source_date_epoch ? format_rfc3339(*build.options.source_date_epoch) : fallback;
}

} // namespace strata::builder
