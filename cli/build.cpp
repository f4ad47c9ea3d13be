#include "builder/builder.hpp"
#include "builder/lock.hpp"
#include "builder/reproducible.hpp"
#include "builder/run_mounts.hpp"
#include "cli/build_cache.hpp"
#include "cli/registry_flags.hpp"
#include "cli/commands.hpp"
#include "registry/registry.hpp"
#include "store/gc.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <unistd.h>

namespace strata::cli {

namespace {

struct BuildFlags {
    std::string file;
    std::string context = ".";
    std::vector<std::string> tags;
    std::vector<std::string> build_args;
    std::string target;
    std::string platform;
    bool quiet = false;
    bool no_cache = false;
    bool explain = false;
    std::string memory;
    long long pids_limit = 0;
    std::string iidfile;
    std::string progress = "auto";
    int jobs = 0;
    std::vector<std::string> labels;
    std::vector<std::string> secrets;  // --secret id=foo,src=path
    std::vector<std::string> ssh;      // --ssh default | id=socket
    CompressionFlags compression;          // new layers' codec and level
    std::string pull = "missing";          // --pull[=missing|always|never]
    bool push = false;                     // --push: every -t to its registry
    std::vector<std::string> outputs;  // --output type=...,dest=...
    std::optional<long long> source_date_epoch;  // --source-date-epoch: wins over the environment's
    bool check_reproducible = false;             // --check-reproducible
    std::string lock_file;  // --lock-file: strata.lock elsewhere than beside the Buildfile
    bool no_lock = false;   // --no-lock: resolve tags even when a lock file exists
    std::vector<std::string> cache_from;  // --cache-from type=registry,ref=... | type=local,src=DIR
    std::vector<std::string> cache_to;    // --cache-to type=registry,ref=...[,mode=max] | type=local,dest=DIR
    RegistryFlags registry;               // --tls-verify, --insecure-registry: for pulls, --push and caches
};

} // namespace

Buildfile read_buildfile(const std::string& file, const std::string& context) {
    if (file == "-") return {std::string(std::istreambuf_iterator<char>(std::cin), {}), "<stdin>", {}};
    fs::path path = file;
    if (path.empty()) {
        path = fs::path(context) / "Buildfile";
        if (!fs::exists(path) && fs::exists(fs::path(context) / "Dockerfile")) path = fs::path(context) / "Dockerfile";
    }
    return {read_file(path), path.string(), path};
}

std::map<std::string, std::string> parse_build_args(const std::vector<std::string>& list) {
    std::map<std::string, std::string> args;
    for (const auto& entry : list) {
        const auto eq = entry.find('=');
        if (eq != std::string::npos) {
            args[entry.substr(0, eq)] = entry.substr(eq + 1);
        } else if (const char* v = std::getenv(entry.c_str())) {
            args[entry] = v;  // docker takes a bare name's value from the environment
        }
    }
    return args;
}

namespace {

// auto: the live view on a terminal, else one line per event (CI logs), as BuildKit does.
builder::ProgressMode progress_mode(const std::string& name) {
    if (name == "plain") return builder::ProgressMode::plain;
    if (name == "tty") return builder::ProgressMode::tty;
    if (name == "json" || name == "rawjson") return builder::ProgressMode::json;
    if (name == "auto") return ::isatty(2) ? builder::ProgressMode::tty : builder::ProgressMode::plain;
    throw Error("--progress '" + name + "': expected auto, plain, tty or json");
}

// --label KEY=VALUE; a bare KEY is an empty label, as docker does.
std::map<std::string, std::string> parse_labels(const std::vector<std::string>& list) {
    std::map<std::string, std::string> labels;
    for (const auto& entry : list) {
        const auto eq = entry.find('=');
        if (entry.empty() || eq == 0) throw Error("--label '" + entry + "': expected KEY=VALUE");
        labels[entry.substr(0, eq)] = eq == std::string::npos ? "" : entry.substr(eq + 1);
    }
    return labels;
}

bool takes_stdout(const BuildOutput& output) { return writes_archive(output) && output.dest == "-"; }

// --source-date-epoch N, else SOURCE_DATE_EPOCH from the environment, else none.
std::optional<long long> source_date_epoch(const BuildFlags& flags) {
    if (flags.source_date_epoch) {
        if (*flags.source_date_epoch < 0) throw Error("--source-date-epoch must be a non-negative integer");
        return flags.source_date_epoch;
    }
    return source_date_epoch_from_env();
}

// --output specs, checked before anything is built; at most one may take standard output.
std::vector<BuildOutput> parse_outputs(const std::vector<std::string>& specs) {
    std::vector<BuildOutput> outputs;
    for (const auto& spec : specs) outputs.push_back(parse_build_output(spec));
    const auto to_stdout = std::count_if(outputs.begin(), outputs.end(), takes_stdout);
    if (to_stdout > 1) throw Error("only one --output can write to standard output");
    if (to_stdout == 1 && ::isatty(STDOUT_FILENO))
        throw Error("refusing to write an archive to a terminal: give --output a dest=FILE or redirect stdout");
    return outputs;
}

// --check-reproducible: two builds in fresh stores (builder/reproducible.hpp); prints the
// digest when they agree, else fails naming the first difference. Nothing is tagged.
void check_reproducible(store::Store& store, builder::Executor& executor, const builder::BuildOptions& options,
                        std::ostream& progress, const std::ostringstream& kept, const BuildFlags& flags) {
    const auto report = [&] {
        try {
            return builder::check_reproducible(store, executor, options, progress);
        } catch (...) {
            std::cerr << kept.str() << std::flush;
            throw;
        }
    }();
    if (!report.reproducible()) {
        std::cerr << kept.str() << std::flush;
        throw Error("the build is not reproducible: " + report.first_digest + " vs " + report.second_digest +
                    "; first difference: " + report.difference);
    }
    if (!flags.iidfile.empty()) write_file_atomic(flags.iidfile, report.first_digest);
    std::cout << report.first_digest << "\n";
}

// strata.lock (builder/lock.hpp): --lock-file's, else the one beside the Buildfile if any.
std::optional<builder::LockFile> read_build_lock(const BuildFlags& flags, const builder::BuildOptions& options) {
    if (flags.no_lock && !flags.lock_file.empty()) throw Error("--no-lock and --lock-file contradict each other");
    if (flags.no_lock) return std::nullopt;
    if (!flags.lock_file.empty()) return builder::read_lock(flags.lock_file);
    const fs::path path = builder::default_lock_path(options.buildfile_path, options.context_dir);
    std::error_code ec;
    if (!fs::exists(path, ec)) return std::nullopt;
    return builder::read_lock(path);
}

// FROM (and COPY --from, RUN --mount from=) pulls through the registry client, configured
// as `strata pull` is (certs.d, $STRATA_INSECURE_REGISTRIES, credentials, the TLS flags).
// Its lines go with the build's plain progress; a tty or json progress stream shows none.
builder::ImagePuller image_puller(store::Store& store, const registry::RegistryOptions& registry, std::ostream& out,
                                  bool show_progress) {
    return [&store, registry, &out, show_progress](const std::string& reference) {
        registry::PullOptions options;
        options.registry = registry;
        registry::TransferProgress progress(out, show_progress ? registry::ProgressMode::plain : registry::ProgressMode::quiet);
        return registry::pull(store, reference, options, progress).manifest;
    };
}

// --push: each tag to its registry, as `strata push TAG` sends it (progress with the build's).
void push_tags(store::Store& store, const std::vector<std::string>& tags, const registry::RegistryOptions& registry,
               std::ostream& out, bool quiet) {
    registry::PushOptions options;
    options.registry = registry;
    registry::TransferProgress progress(out, quiet ? registry::ProgressMode::quiet : registry::ProgressMode::plain);
    for (const auto& tag : tags) {
        const auto pushed = registry::push(store, tag, tag, options, progress);
        progress.message("pushed " + pushed.name + "@" + pushed.digest);
    }
}

void run_build(const BuildFlags& flags, const GlobalOptions& global) {
    if (flags.check_reproducible && (!flags.outputs.empty() || !flags.tags.empty()))
        throw Error("--check-reproducible builds in temporary stores: it takes no --tag or --output");
    if (flags.check_reproducible && (!flags.cache_from.empty() || !flags.cache_to.empty()))
        throw Error("--check-reproducible builds from nothing in temporary stores: it takes no --cache-from or --cache-to");
    const std::vector<BuildOutput> outputs = parse_outputs(flags.outputs);
    if (flags.push && flags.tags.empty()) throw Error("--push needs a name to push to: give -t REGISTRY/NAME[:TAG]");
    const auto cache_from = parse_cache_specs(flags.cache_from, false);
    const auto cache_to = parse_cache_specs(flags.cache_to, true);
    builder::BuildOptions options;
    Buildfile buildfile = read_buildfile(flags.file, flags.context);
    options.buildfile_text = std::move(buildfile.text);
    options.buildfile_name = std::move(buildfile.name);
    options.buildfile_path = std::move(buildfile.path);
    if (!fs::is_directory(flags.context)) throw Error("build context '" + flags.context + "' is not a directory");
    options.context_dir = fs::absolute(flags.context);
    options.tags = flags.tags;
    options.build_args = parse_build_args(flags.build_args);
    options.target = flags.target;
    options.platform = flags.platform;
    options.no_cache = flags.no_cache;
    options.explain = flags.explain;
    if (!flags.memory.empty()) options.limits.memory_bytes = parse_size(flags.memory);
    if (flags.pids_limit > 0) options.limits.pids = flags.pids_limit;
    options.source_date_epoch = source_date_epoch(flags);
    options.compression = flags.compression.parse();
    options.progress = progress_mode(flags.progress);
    if (flags.jobs < 0) throw Error("--jobs must be at least 1");
    options.jobs = flags.jobs;
    options.labels = parse_labels(flags.labels);
    for (const auto& text : flags.secrets) {
        auto [id, source] = builder::parse_secret_flag(text);
        options.secrets.insert_or_assign(id, std::move(source));  // a later --secret for an id wins
    }
    for (const auto& text : flags.ssh) options.ssh_agents.insert(builder::parse_ssh_flag(text, std::getenv("SSH_AUTH_SOCK")));

    options.pull = builder::parse_pull_policy(flags.pull);
    // --check-reproducible seeds its fresh stores by tag: it resolves tags itself.
    if (!flags.check_reproducible) options.lock = read_build_lock(flags, options);

    store::Store store(global.root);
    // Layers and snapshots this build writes are referenced only once it records and tags
    // them: no garbage collection may run meanwhile (store/gc.hpp).
    const store::GcLock building = hold_store_for_use(store);
    builder::SandboxExecutor executor;
    // -q: the progress is kept, and shown only when the build fails (as docker build -q).
    std::ostringstream kept;
    if (flags.quiet) options.progress = builder::ProgressMode::plain;
    std::ostream& progress = flags.quiet ? static_cast<std::ostream&>(kept) : std::cerr;
    const registry::RegistryOptions registry = registry_options(flags.registry);
    options.puller = image_puller(store, registry, progress, options.progress == builder::ProgressMode::plain);
    if (flags.check_reproducible) return check_reproducible(store, executor, options, progress, kept, flags);
    import_build_caches(store, cache_from, registry, progress, flags.quiet);
    const auto result = [&] {
        try {
            return builder::build(store, executor, options, progress);
        } catch (...) {
            std::cerr << kept.str() << std::flush;
            throw;
        }
    }();
    // The image is stored and tagged as usual; the outputs are copies of it.
    for (const auto& output : outputs) write_build_output(store, output, result.manifest, flags.tags);
    if (flags.push) push_tags(store, flags.tags, registry, progress, flags.quiet);
    export_build_caches(store, cache_to, result, registry, progress, flags.quiet);
    if (!flags.iidfile.empty()) write_file_atomic(flags.iidfile, result.manifest.digest);
    if (std::none_of(outputs.begin(), outputs.end(), takes_stdout)) std::cout << result.manifest.digest << "\n";
}

} // namespace

void add_build_command(CLI::App& app, GlobalOptions& global) {
    auto flags = std::make_shared<BuildFlags>();
    auto* cmd = app.add_subcommand("build", "Build an image from a Buildfile (or Dockerfile)");
    cmd->add_option("context", flags->context, "Build context directory")->capture_default_str();
    cmd->add_option("-f,--file", flags->file, "Buildfile path ('-' for stdin); default CONTEXT/Buildfile, then CONTEXT/Dockerfile");
    cmd->add_option("-t,--tag", flags->tags, "Name and optionally a tag (name:tag); repeatable")->allow_extra_args(false);
    cmd->add_option("--build-arg", flags->build_args, "Set a build-time variable (KEY=VALUE or KEY)")->allow_extra_args(false);
    cmd->add_option("--target", flags->target, "Build this stage (default: the last)");
    cmd->add_flag("--push", flags->push, "Push every -t name to its registry once built");
    // A flag, as docker's: the bare --pull never takes the next argument (the context) as its value.
    cmd->add_flag("--pull{always}", flags->pull, "Pull base images: --pull=missing (default), --pull (always) or --pull=never");
    cmd->add_option("--platform", flags->platform, "Target platform: only the host's (e.g. linux/amd64); there is no emulation");
    cmd->add_flag("-q,--quiet", flags->quiet, "Print only the image digest (the progress only if the build fails)");
    cmd->add_flag("--no-cache", flags->no_cache, "Do not reuse cached steps");
    cmd->add_flag("--explain", flags->explain, "Say why each step that runs missed the cache");
    cmd->add_option("-m,--memory", flags->memory, "Memory limit for RUN steps (e.g. 512m)");
    cmd->add_option("--pids-limit", flags->pids_limit, "Process limit for RUN steps");
    cmd->add_option("--iidfile", flags->iidfile, "Write the image digest to this file");
    cmd->add_option("--progress", flags->progress, "Progress output: auto, plain, tty or json")
        ->capture_default_str()
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    cmd->add_option("-j,--jobs", flags->jobs, "Stages built at once (default: the number of cores)");
    cmd->add_option("--label", flags->labels, "Set a label on the image (KEY=VALUE); repeatable")->allow_extra_args(false);
    cmd->add_option("--secret", flags->secrets, "Secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR; repeatable")
        ->allow_extra_args(false);
    add_compression_options(cmd, flags->compression);
    cmd->add_option_function<long long>(
        "--source-date-epoch", [flags](long long epoch) { flags->source_date_epoch = epoch; },
        "Clamp layer mtimes and image times to this Unix time (default: $SOURCE_DATE_EPOCH)");
    cmd->add_option("--lock-file", flags->lock_file, "Use the digests of this lock file (default: strata.lock beside the Buildfile, if any)");
    cmd->add_flag("--no-lock", flags->no_lock, "Ignore strata.lock: resolve tags as --pull says");
    cmd->add_flag("--check-reproducible", flags->check_reproducible,
                  "Build twice in fresh temporary stores with the same SOURCE_DATE_EPOCH (default 0) and report the "
                  "first difference; stores and tags nothing");
    cmd->add_option("--ssh", flags->ssh, "SSH agent for RUN --mount=type=ssh: default (SSH_AUTH_SOCK) or ID=SOCKET; repeatable")
        ->allow_extra_args(false);
    cmd->add_option("-o,--output", flags->outputs,
                    "Also export the image: type=oci,dest=DIR | type=oci-archive,dest=FILE|- | type=docker,dest=FILE|- | "
                    "type=local,dest=DIR (its files), or a DIR; repeatable")
        ->allow_extra_args(false);
    cmd->add_option("--cache-from", flags->cache_from,
                    "Import a build cache first: type=registry,ref=REF | type=local,src=DIR[,tag=NAME] | REF; repeatable")
        ->allow_extra_args(false);
    cmd->add_option("--cache-to", flags->cache_to,
                    "Export the build cache: type=registry,ref=REF | type=local,dest=DIR[,tag=NAME]; mode=min (the "
                    "image's stages) or mode=max (all stages and RUN cache mounts); ignore-error=true; repeatable")
        ->allow_extra_args(false);
    add_registry_flags(cmd, flags->registry);
    cmd->callback([flags, &global] { run_build(*flags, global); });
}

} // namespace strata::cli
