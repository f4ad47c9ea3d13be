#pragma once
// strata pull, push, login and logout: images between the store and OCI registries.
//
// Pull: the manifest (an index picks one platform), then the config and layers that the
// store lacks, several at a time, each streamed into a blob writer and committed only
// once its size and digest match; the image is tagged only after all of it is stored and
// reads back. Docker schema 2 images are stored with an OCI manifest of their own (the
// same config and layer blobs), as `strata load` stores them.
// Push: each blob the registry lacks (HEAD) is mounted from another repository of the
// registry that has it, or uploaded; then the manifest, under the tag.
#include "registry/client.hpp"
#include "registry/progress.hpp"
#include "store/platform.hpp"
#include "store/store.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace strata::registry {

struct TransferOptions {
    RegistryOptions registry;
    int jobs = 3;  // blobs at once (docker's default)
};

struct PullOptions : TransferOptions {
    std::optional<store::Platform> platform;  // default: the host's
};

struct PullResult {
    std::string name;  // the normalised reference it is stored under ("docker.io/library/alpine:latest")
    store::Descriptor manifest;  // as stored
    std::string remote_digest;   // the manifest (or index) digest the registry gave the reference
};
PullResult pull(store::Store& store, std::string_view reference, const PullOptions& options, TransferProgress& progress);

// What a reference names in its registry now, without pulling it (strata lock): one
// manifest GET, two for an index.
struct ResolvedDigest {
    std::string name;      // normalised: "docker.io/library/alpine:3"
    std::string digest;    // the manifest or index digest the registry gives the reference
    std::string manifest;  // the image manifest for the platform (the same as digest for one manifest)
};
ResolvedDigest resolve_digest(std::string_view reference, const PullOptions& options, TransferProgress& progress);

struct PushOptions : TransferOptions {
    std::int64_t chunk_size = 32 << 20;  // blobs larger than this go up in PATCH chunks; 0: one PUT each
};

struct PushResult {
    std::string name;    // "reg:5000/team/app:1"
    std::string digest;  // the manifest's
    std::int64_t size = 0;
};
// `image` names a stored image; `destination` the reference to push to (default: image).
PushResult push(store::Store& store, std::string_view image, std::string_view destination, const PushOptions& options,
                TransferProgress& progress);

// OCI artifacts (store/artifact.hpp: a build cache): push sends a stored manifest's blobs,
// then the manifest under destination's tag; pull fetches one manifest (an OCI image
// manifest with any config type, never an index: no platform is chosen) and every blob the
// store lacks, each verified, and tags nothing. Returns the manifest as stored.
PushResult push_artifact(store::Store& store, const store::Descriptor& manifest, std::string_view destination,
                         const PushOptions& options, TransferProgress& progress);
store::Descriptor pull_artifact(store::Store& store, std::string_view reference, const PullOptions& options,
                                TransferProgress& progress);

// The registry part of a reference or a login argument: "reg:5000", "docker.io" for
// "https://index.docker.io/v1/" and for none.
std::string registry_domain(std::string_view argument);

// Checks the credentials against the registry, then saves them (credentials.hpp says where).
void login(std::string_view registry, const Credentials& credentials, const RegistryOptions& options);
// False when no file held credentials for it.
bool logout(std::string_view registry, const RegistryOptions& options);

} // namespace strata::registry
