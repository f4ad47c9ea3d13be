#pragma once
// The distribution API's blob and manifest operations for one repository, each retried
// as the registry's RetryPolicy says: a blob GET resumes with Range where the server
// allows it, an upload resumes from the registry's own offset or starts again.
#include "registry/client.hpp"
#include "registry/progress.hpp"
#include "store/store.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace strata::registry {

// Every manifest type strata reads, for Accept headers.
extern const char* const manifest_accept_types[];
bool is_index_media_type(std::string_view type);     // OCI index, docker manifest list
bool is_manifest_media_type(std::string_view type);  // OCI manifest, docker v2 schema 2

struct FetchedManifest {
    std::string bytes;
    std::string media_type;
    std::string digest;  // sha256 of bytes, checked against what the registry says and the reference's digest
};

class Repository {
public:
    Repository(Registry& registry, std::string path) : registry_(registry), path_(std::move(path)) {}
    Registry& registry() { return registry_; }
    const std::string& path() const { return path_; }

    // A manifest or index by tag or digest; by digest, its bytes must hash to it.
    FetchedManifest get_manifest(HttpClient& http, const std::string& reference);
    // PUT: returns the digest the registry gives it (ours when it gives none).
    std::string put_manifest(HttpClient& http, const std::string& reference, const std::string& bytes,
                             const std::string& media_type);

    // Streams a blob into the store and commits it under its digest, after checking its
    // size and digest; throws (storing nothing) when they differ.
    void fetch_blob(HttpClient& http, store::Store& store, const store::Descriptor& blob, TransferProgress& progress);

    enum class Upload { exists, mounted, uploaded };
    // Puts a store blob into the repository unless it is there: HEAD, then a mount from
    // `mount_from` (another repository of this registry) when given, else an upload, in
    // PATCH chunks of `chunk_size` bytes when the blob is larger (0: one PUT).
    Upload push_blob(HttpClient& http, const store::Store& store, const store::Descriptor& blob,
                     const std::optional<std::string>& mount_from, std::int64_t chunk_size, TransferProgress& progress);

private:
    bool blob_exists(HttpClient& http, const store::Descriptor& blob);
    std::optional<std::string> try_mount(HttpClient& http, const store::Descriptor& blob, const std::string& from, bool& mounted);
    std::string start_upload(HttpClient& http);
    void upload_monolithic(HttpClient& http, const std::string& location, int fd, const store::Descriptor& blob,
                           TransferProgress& progress);
    void upload_chunked(HttpClient& http, std::string location, int fd, const store::Descriptor& blob, std::int64_t chunk_size,
                        TransferProgress& progress);
    std::vector<std::string> pull_scope() const;
    std::vector<std::string> push_scope() const;

    Registry& registry_;
    std::string path_;
};

} // namespace strata::registry

namespace strata::registry {

// Runs task(http, i) for every i < count on up to `jobs` threads, each with an HttpClient
// of its own (libcurl handles are not shared between threads). Threads rather than
// curl_multi: each transfer is a sequence of requests (challenge, token, retries with
// backoff, resume) that reads plainly as a function, and a handful of threads costs
// nothing beside the bytes moved. The first failure stops further tasks and is rethrown.
void run_transfers(std::size_t count, int jobs, const std::function<void(HttpClient& http, std::size_t index)>& task);

} // namespace strata::registry
