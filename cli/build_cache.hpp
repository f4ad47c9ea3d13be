#pragma once
// build --cache-from / --cache-to: the cache artifact (builder/cache_export.hpp) moved
// between the store and a registry or an OCI layout directory. The builder knows nothing
// of registries; this is where the two meet.
#include "builder/builder.hpp"
#include "builder/cache_export.hpp"
#include "registry/client.hpp"
#include "store/store.hpp"

#include <ostream>
#include <string>
#include <vector>

namespace strata::cli {

// Every spec checked before anything is built.
std::vector<builder::CacheSpec> parse_cache_specs(const std::vector<std::string>& texts, bool for_export);

// Before the build: each source's records into the store's cache. A source that is missing
// or unusable is a warning, never the build's failure (as buildx treats --cache-from).
void import_build_caches(store::Store& store, const std::vector<builder::CacheSpec>& sources,
                         const registry::RegistryOptions& registry, std::ostream& progress, bool quiet);

// After the build: the cache artifact for each destination (one per mode), pushed or
// written. A failure is the command's error unless the spec says ignore-error=true.
void export_build_caches(store::Store& store, const std::vector<builder::CacheSpec>& destinations,
                         const builder::BuildResult& result, const registry::RegistryOptions& registry,
                         std::ostream& progress, bool quiet);

} // namespace strata::cli
