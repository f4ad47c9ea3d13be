// build --cache-from / --cache-to (build_cache.hpp).
#include "cli/build_cache.hpp"

#include "registry/registry.hpp"
#include "store/artifact.hpp"
#include "util/error.hpp"

#include <iostream>
#include <map>

namespace strata::cli {

namespace {

void warn(const std::string& message) { std::cerr << "strata: warning: " << message << "\n" << std::flush; }

registry::ProgressMode transfer_mode(bool quiet) { return quiet ? registry::ProgressMode::quiet : registry::ProgressMode::plain; }

// The artifact's manifest in the store; none when the source holds no cache.
std::optional<store::Descriptor> fetch(store::Store& store, const builder::CacheSpec& source,
                                       const registry::RegistryOptions& registry, std::ostream& progress, bool quiet) {
    if (source.type == builder::CacheSpec::Type::local) return store::read_artifact_layout(store, source.dir, source.tag);
    registry::TransferProgress transfer(progress, transfer_mode(quiet));
    registry::PullOptions options;
    options.registry = registry;
    return registry::pull_artifact(store, source.ref, options, transfer);
}

void send(store::Store& store, const builder::CacheSpec& destination, const store::Descriptor& manifest,
          const registry::RegistryOptions& registry, std::ostream& progress, bool quiet) {
    if (destination.type == builder::CacheSpec::Type::local)
        return store::write_artifact_layout(store, manifest, destination.dir, destination.tag);
    registry::TransferProgress transfer(progress, transfer_mode(quiet));
    registry::PushOptions options;
    options.registry = registry;
    registry::push_artifact(store, manifest, destination.ref, options, transfer);
}

} // namespace

std::vector<builder::CacheSpec> parse_cache_specs(const std::vector<std::string>& texts, bool for_export) {
    std::vector<builder::CacheSpec> specs;
    for (const auto& text : texts) specs.push_back(builder::parse_cache_spec(text, for_export));
    return specs;
}

void import_build_caches(store::Store& store, const std::vector<builder::CacheSpec>& sources,
                         const registry::RegistryOptions& registry, std::ostream& progress, bool quiet) {
    for (const auto& source : sources) {
        const std::string what = "importing cache from " + builder::describe(source);
        try {
            const auto manifest = fetch(store, source, registry, progress, quiet);
            if (!manifest) {
                warn(what + ": no cache there");
                continue;
            }
            const auto summary = builder::import_cache_artifact(store, *manifest);
            for (const auto& line : summary.warnings) warn(what + ": " + line);
            if (!quiet)
                progress << what << ": " << summary.records << " records added, " << summary.kept << " kept, "
                         << summary.mounts << " cache mounts restored\n" << std::flush;
        } catch (const Error& e) {
            warn(what + ": " + e.message());
        }
    }
}

void export_build_caches(store::Store& store, const std::vector<builder::CacheSpec>& destinations,
                         const builder::BuildResult& result, const registry::RegistryOptions& registry,
                         std::ostream& progress, bool quiet) {
    std::map<builder::CacheMode, builder::CacheExportSummary> artifacts;  // one per mode, made when first needed
    for (const auto& destination : destinations) {
        const std::string what = "exporting cache to " + builder::describe(destination);
        try {
            with_context(what, [&] {
                auto it = artifacts.find(destination.mode);
                if (it == artifacts.end()) {
                    it = artifacts.emplace(destination.mode, builder::write_cache_artifact(store, result, destination.mode)).first;
                    for (const auto& line : it->second.warnings) warn(line);
                }
                send(store, destination, it->second.manifest, registry, progress, quiet);
                if (!quiet)
                    progress << what << ": " << it->second.records << " records, " << it->second.layers << " layers, "
                             << it->second.mounts << " cache mounts (" << it->second.manifest.digest << ")\n" << std::flush;
            });
        } catch (const Error& e) {
            if (!destination.ignore_error) throw;
            warn(e.message());
        }
    }
}

} // namespace strata::cli
