#include "builder/builder.hpp"
#include "cli/commands.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

#include <cstdlib>
#include <iostream>
#include <iterator>
#include <map>

namespace strata::cli {

namespace {

struct BuildFlags {
    std::string file;
    std::string context = ".";
    std::vector<std::string> tags;
    std::vector<std::string> build_args;
    std::string target;
    bool no_cache = false;
    std::string memory;
    long long pids_limit = 0;
    std::string iidfile;
};

// -f given, else Buildfile in the context, else Dockerfile (what docker users have).
struct Buildfile {
    std::string text;
    std::string name;  // for error positions
    fs::path path;     // empty for stdin
};

Buildfile read_buildfile(const BuildFlags& flags) {
    if (flags.file == "-") return {std::string(std::istreambuf_iterator<char>(std::cin), {}), "<stdin>", {}};
    fs::path path = flags.file;
    if (path.empty()) {
        path = fs::path(flags.context) / "Buildfile";
        if (!fs::exists(path) && fs::exists(fs::path(flags.context) / "Dockerfile")) path = fs::path(flags.context) / "Dockerfile";
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

std::optional<long long> source_date_epoch() {
    const char* v = std::getenv("SOURCE_DATE_EPOCH");
    if (!v || !*v) return std::nullopt;
    char* end = nullptr;
    const long long epoch = std::strtoll(v, &end, 10);
    if (*end != '\0' || epoch < 0) throw Error(std::string("SOURCE_DATE_EPOCH='") + v + "' is not a non-negative integer");
    return epoch;
}

void run_build(const BuildFlags& flags, const GlobalOptions& global) {
    builder::BuildOptions options;
    Buildfile buildfile = read_buildfile(flags);
    options.buildfile_text = std::move(buildfile.text);
    options.buildfile_name = std::move(buildfile.name);
    options.buildfile_path = std::move(buildfile.path);
    if (!fs::is_directory(flags.context)) throw Error("build context '" + flags.context + "' is not a directory");
    options.context_dir = fs::absolute(flags.context);
    options.tags = flags.tags;
    options.build_args = parse_build_args(flags.build_args);
    options.target = flags.target;
    options.no_cache = flags.no_cache;
    if (!flags.memory.empty()) options.limits.memory_bytes = parse_size(flags.memory);
    if (flags.pids_limit > 0) options.limits.pids = flags.pids_limit;
    options.source_date_epoch = source_date_epoch();

    store::Store store(global.root);
    builder::SandboxExecutor executor;
    const auto result = builder::build(store, executor, options, std::cerr);
    if (!flags.iidfile.empty()) write_file_atomic(flags.iidfile, result.manifest.digest);
    std::cout << result.manifest.digest << "\n";
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
    cmd->add_flag("--no-cache", flags->no_cache, "Do not reuse cached steps");
    cmd->add_option("-m,--memory", flags->memory, "Memory limit for RUN steps (e.g. 512m)");
    cmd->add_option("--pids-limit", flags->pids_limit, "Process limit for RUN steps");
    cmd->add_option("--iidfile", flags->iidfile, "Write the image digest to this file");
    cmd->callback([flags, &global] { run_build(*flags, global); });
}

} // namespace strata::cli
