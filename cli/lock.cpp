// strata lock: asks each registry what the tags a Buildfile uses name now and writes
// strata.lock (builder/lock.hpp), which later builds use instead of the tags.
#include "builder/lock.hpp"
#include "cli/commands.hpp"
#include "cli/registry_flags.hpp"
#include "registry/registry.hpp"
#include "registry/sources.hpp"
#include "store/platform.hpp"
#include "util/error.hpp"

#include <iostream>

namespace strata::cli {

namespace {

struct LockFlags {
    std::string file;
    std::string context = ".";
    std::vector<std::string> build_args;
    std::string platform;
    std::string lock_file;
    RegistryFlags registry;
};

// The stored image for a reference no registry could give, when it was made here (built,
// loaded, imported): an image pulled from a registry is locked by the registry's digest
// or not at all, since its stored digest may be a converted manifest's that no registry has.
std::optional<builder::LockedImage> local_image(const store::Store& store, const std::string& reference,
                                                const store::Platform& platform) {
    if (platform != store::host_platform()) return std::nullopt;  // the store holds the host's images
    const auto stored = store.resolve(reference);
    if (!stored) return std::nullopt;
    const store::Image image = store.load_image(*stored);
    const std::string config = image.manifest.at("config").at("digest").get<std::string>();
    if (!registry::known_sources(store, config).empty()) return std::nullopt;
    return builder::LockedImage{store::with_default_tag(store::parse_reference(reference)).string(), stored->digest,
                                image.manifest_descriptor.digest, true};
}

// The registry's digests for a reference, else (only for an image made here) the store's.
builder::LockedImage lock_image(const store::Store& store, const std::string& reference, const registry::PullOptions& options) {
    registry::TransferProgress quiet(std::cerr, registry::ProgressMode::quiet);
    try {
        const auto resolved = registry::resolve_digest(reference, options, quiet);
        return {resolved.name, resolved.digest, resolved.manifest, false};
    } catch (const Error& e) {
        std::optional<builder::LockedImage> local;
        try {
            local = local_image(store, reference, *options.platform);
        } catch (const Error&) {
            // not a stored image either: the registry's error says more
        }
        if (!local) throw;
        std::cerr << "note: " << reference << " is locked to this store's image (no registry has it: " << e.message() << ")\n";
        return *local;
    }
}

void run_lock(const LockFlags& flags, const GlobalOptions& global) {
    const Buildfile buildfile = read_buildfile(flags.file, flags.context);
    const auto uses = builder::buildfile_image_uses(buildfile.text, buildfile.name, parse_build_args(flags.build_args));
    registry::PullOptions options;
    options.registry = registry_options(flags.registry);
    options.platform = flags.platform.empty() ? store::host_platform() : store::parse_platform(flags.platform);
    const store::Store store(global.root);

    builder::LockFile lock;
    lock.platform = options.platform->string();
    for (const auto& use : uses) {
        if (lock.images.count(use.reference)) continue;
        const auto image = with_context(use.loc.file + ":" + std::to_string(use.loc.line) + ": " + use.instruction + " " + use.reference,
                                        [&] { return lock_image(store, use.reference, options); });
        std::cout << use.reference << "\t" << image.name << "@" << image.digest << (image.local ? "\t(local only)" : "") << "\n";
        lock.images.emplace(use.reference, image);
    }
    const fs::path path = flags.lock_file.empty() ? builder::default_lock_path(buildfile.path, flags.context) : fs::path(flags.lock_file);
    builder::write_lock(path, lock);
    std::cerr << "wrote " << path.string() << " (" << lock.images.size() << (lock.images.size() == 1 ? " image, " : " images, ")
              << lock.platform << ")\n";
}

} // namespace

void add_lock_command(CLI::App& app, GlobalOptions& global) {
    auto flags = std::make_shared<LockFlags>();
    auto* cmd = app.add_subcommand("lock", "Record the digest of every image a Buildfile uses in strata.lock");
    cmd->add_option("context", flags->context, "Build context directory")->capture_default_str();
    cmd->add_option("-f,--file", flags->file, "Buildfile path ('-' for stdin); default CONTEXT/Buildfile, then CONTEXT/Dockerfile");
    cmd->add_option("--build-arg", flags->build_args, "Set a build-time variable (KEY=VALUE or KEY)")->allow_extra_args(false);
    cmd->add_option("--platform", flags->platform, "Choose each index's image for this platform (default: the host's)");
    cmd->add_option("--lock-file", flags->lock_file, "Write here (default: strata.lock beside the Buildfile)");
    add_registry_flags(cmd, flags->registry);
    cmd->callback([flags, &global] { run_lock(*flags, global); });
}

} // namespace strata::cli
