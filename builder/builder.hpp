#pragma once
// The builder runs a parsed Buildfile's DAG: each stage from its base, each step either
// reused from the cache or executed, then the image assembled and tagged in the store.
#include "builder/cache.hpp"
#include "builder/images.hpp"
#include "builder/progress.hpp"
#include "parser/buildfile.hpp"
#include "sandbox/sandbox.hpp"
#include "store/store.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

namespace strata::builder {

namespace fs = std::filesystem;

// The seam between the builder and the kernel: the real one runs sandbox::run(); tests
// use a fake that records specs and writes into the upper directory.
class Executor {
public:
    virtual ~Executor() = default;
    virtual sandbox::Result run(const sandbox::Spec& spec) = 0;
};

class SandboxExecutor final : public Executor {
public:
    sandbox::Result run(const sandbox::Spec& spec) override { return sandbox::run(spec); }
};

// --secret: where RUN --mount=type=secret finds a secret's value (read only when a step
// that is not cached uses it). Exactly one of the two is set.
struct SecretSource {
    fs::path file;
    std::string env;  // a variable of strata's own environment
};

struct BuildOptions {
    std::string buildfile_text;
    std::string buildfile_name = "Buildfile";  // for error positions
    fs::path buildfile_path;                   // for <Buildfile>.dockerignore; empty when read from stdin
    fs::path context_dir = ".";
    std::vector<std::string> tags;
    std::map<std::string, std::string> labels;  // --label: added to the final image's config
    std::map<std::string, std::string> build_args;
    std::string target;
    std::string platform;  // --platform: empty or the host's (there is no emulation)
    bool no_cache = false;
    bool explain = false;  // say why each step that runs missed the cache
    sandbox::Limits limits;
    std::optional<long long> source_date_epoch;
    store::LayerCompression compression;  // --compression, --compression-level: new layers' blobs
    int terminal_fd = 2;  // the terminal the progress stream shows on (tty mode: its width)
    ProgressMode progress = ProgressMode::plain;
    int jobs = 0;  // stages built at once; 0 = the number of cores
    std::map<std::string, SecretSource> secrets;  // --secret, by id
    std::map<std::string, fs::path> ssh_agents;   // --ssh: an agent's socket, by id ("default")
    PullPolicy pull = PullPolicy::missing;        // --pull
    ImagePuller puller;                           // how to pull (the registry client); none: never
    std::optional<LockFile> lock;                 // strata.lock: its digests stand for the tags it names
};

struct BuildResult {
    store::Descriptor manifest;
    std::string config_digest;
    // For --cache-to (cache_export.hpp): every step's cache entry, and the stages whose
    // steps made the image's own layers (the target and the stages it is FROM, in turn).
    std::vector<CacheEntry> cache_steps;
    std::set<int> image_stages;
};

// Builds and tags the image; progress (and RUN output) goes to `progress`.
BuildResult build(store::Store& store, Executor& executor, const BuildOptions& options, std::ostream& progress);

} // namespace strata::builder
