#pragma once
// The build cache shared between stores (`build --cache-to`, `--cache-from`), as an OCI
// artifact (store/artifact.hpp) that a registry or an OCI layout directory carries:
//
//   manifest  artifactType application/vnd.strata.cache.v1
//   config    application/vnd.strata.cache.config.v1+json:
//             {"v": 1,
//              "records": [{"key", "step": the keyed record, "output": {chain_id, created,
//                           layer, diff_id}, "chain": [{"layer", "diff_id"}...]}],   by key
//              "mounts": [{"id", "layer", "diff_id", "mode", "uid", "gid"}]}          by id
//   layers    the layer blobs of every record's chain (the same blobs as the images', so
//             a registry stores them once), then with mode=max one tar per cache mount
//             (annotated with its id)
//
// A record's "chain" is every layer under its output, bottom first: an empty store that
// imports it can unpack the snapshot on the first hit (cache.hpp) without the image it
// came from. mode=min exports the steps of the image's own stages (the target and the
// stages it is FROM); mode=max every stage's, and the RUN --mount=type=cache directories
// those steps use. An artifact is foreign input: each record must hash to its key and its
// chain to its chain id, or it is skipped; a cache mount is restored only into an empty one.
#include "builder/builder.hpp"
#include "store/store.hpp"

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace strata::builder {

inline constexpr const char* cache_artifact_type = "application/vnd.strata.cache.v1";
inline constexpr const char* cache_config_media_type = "application/vnd.strata.cache.config.v1+json";
inline constexpr const char* cache_mount_annotation = "dev.strata.cache.mount.id";
inline constexpr int cache_artifact_version = 1;

enum class CacheMode { min, max };

// One --cache-to or --cache-from, in docker buildx's syntax: type=registry,ref=REF[,mode=max]
// or type=local,dest=DIR / type=local,src=DIR[,tag=NAME]; a bare REF is a registry ref.
struct CacheSpec {
    enum class Type { registry, local };
    Type type = Type::registry;
    std::string ref;                 // registry
    std::filesystem::path dir;       // local: dest= (export) or src= (import)
    std::string tag = "latest";      // local: the artifact's name in the layout's index.json
    CacheMode mode = CacheMode::min;  // export only
    bool ignore_error = false;       // export only: a failed export is a warning
    std::string text;                // as given, for messages
};
CacheSpec parse_cache_spec(std::string_view text, bool for_export);
std::string describe(const CacheSpec& spec);  // "registry 127.0.0.1:5000/app:cache", "local /ci/cache"

struct CacheExportSummary {
    store::Descriptor manifest;
    std::size_t records = 0;
    std::size_t layers = 0;
    std::size_t mounts = 0;
    std::vector<std::string> warnings;  // cache mounts that could not be exported
};
// Writes the artifact of a finished build's cache into the store; returns its manifest.
CacheExportSummary write_cache_artifact(store::Store& store, const BuildResult& build, CacheMode mode);

struct CacheImportSummary {
    std::size_t records = 0;  // added
    std::size_t kept = 0;     // a usable local record of the same key was kept
    std::size_t mounts = 0;   // cache mounts restored
    std::vector<std::string> warnings;  // records and mounts skipped, and why
};
// Puts an artifact's records into the store's cache (its blobs must be in the store).
// Throws when it is not a strata cache at all; a bad record or mount is skipped with a warning.
CacheImportSummary import_cache_artifact(store::Store& store, const store::Descriptor& manifest);

} // namespace strata::builder
