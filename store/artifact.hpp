#pragma once
// OCI artifacts: a plain image manifest (which every registry accepts) whose
// `artifactType` says what it holds, a config blob of its own media type, and layers that
// are ordinary blobs, so they are shared with the images that use the same ones. The
// build cache travels as one (builder/cache_export.hpp).
//
// Besides the store, an artifact can live in an OCI image layout directory of its own
// (`--cache-to type=local,dest=DIR`): index.json names its manifest under
// org.opencontainers.image.ref.name; blobs/sha256/<hex> hold the rest. Writing copies only
// the blobs the directory lacks (each fsynced, then renamed) and replaces index.json last,
// so a crash leaves the previous artifact readable; reading verifies every blob.
#include "store/store.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::store {

struct Artifact {
    Descriptor manifest;
    std::string artifact_type;  // the manifest's artifactType ("" when it has none)
    Descriptor config;
    std::vector<Descriptor> layers;
    std::vector<Descriptor> blobs() const;  // config, then the layers, each once
};

// Stores the manifest (deterministic JSON) for a config and layers already in the store.
Descriptor write_artifact(Store& store, std::string_view artifact_type, const Descriptor& config,
                          const std::vector<Descriptor>& layers);

// The shape of an OCI image manifest (schemaVersion 2, a config, a layers array), any
// media types. Throws an Error for anything else; `digest` is what it was fetched as.
Artifact parse_artifact(std::string_view manifest_bytes, const Descriptor& manifest);
// The same for a manifest in the store.
Artifact read_artifact(const Store& store, const Descriptor& manifest);

// Writes the artifact (manifest, config and layers from the store) into the OCI layout
// `dir` (created when missing) under `name`, replacing what that name named before.
void write_artifact_layout(const Store& store, const Descriptor& manifest, const fs::path& dir, std::string_view name);
// Copies the artifact `name` of the OCI layout `dir` into the store, every blob verified
// against its digest (and the manifest against index.json's). None when the directory has
// no index.json or it has no such name.
std::optional<Descriptor> read_artifact_layout(Store& store, const fs::path& dir, std::string_view name);

} // namespace strata::store
