#include "registry/transfer.hpp"

#include "util/error.hpp"
#include "util/sha256.hpp"

#include <atomic>
#include <exception>
#include <fcntl.h>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace strata::registry {

const char* const manifest_accept_types[] = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
};

namespace {

// A failure that a new attempt may cure (5xx, 429, a reset): the upload starts again.
class RetryableFailure : public Error {
public:
    using Error::Error;
};

std::string accept_header() {
    std::string header = "Accept: ";
    for (const char* type : manifest_accept_types) header += std::string(type) + ", ";
    header.resize(header.size() - 2);
    return header;
}

std::string media_type_of(const HttpResponse& response, const std::string& body) {
    std::string type = response.header("content-type");
    type = type.substr(0, type.find(';'));
    while (!type.empty() && type.back() == ' ') type.pop_back();
    if (is_manifest_media_type(type) || is_index_media_type(type)) return type;
    // Some registries send text/plain or application/json: the document's own field says.
    const auto doc = nlohmann::json::parse(body, nullptr, false);
    if (doc.is_object() && doc.contains("mediaType") && doc["mediaType"].is_string()) return doc["mediaType"].get<std::string>();
    if (doc.is_object() && doc.contains("manifests")) return "application/vnd.oci.image.index.v1+json";
    return type;
}

// Reads [start, start + length) of a file for a request body.
auto file_body(int fd, std::int64_t start, std::int64_t length, TransferProgress& progress, const std::string& digest) {
    return [fd, start, length, &progress, digest](std::int64_t offset, char* buffer, std::size_t size) -> std::size_t {
        const auto left = static_cast<std::size_t>(length - offset);
        const ssize_t n = ::pread(fd, buffer, std::min(size, left), start + offset);
        if (n < 0) throw_errno("pread", "blob " + digest);
        if (n == 0 && left > 0) throw Error("blob " + digest + " is shorter than its descriptor says");
        progress.advance(digest, n);
        return static_cast<std::size_t>(n);
    };
}

void check_retryable(const std::string& what, const HttpResponse& response) {
    if (response.status >= 500 || response.status == 429) throw RetryableFailure(what + ": " + describe_failure(response));
    throw_failure(what, response);
}

std::string location_of(Registry& registry, const HttpResponse& response) {
    const std::string location = response.header("location");
    if (location.empty()) throw Error("the registry answered an upload without a Location");
    return absolute_location(registry.base(), location);
}

// "0-1023" -> 1024: the next byte the registry expects.
std::optional<std::int64_t> next_offset(const std::string& range) {
    const auto dash = range.find('-');
    if (dash == std::string::npos) return std::nullopt;
    try {
        return std::stoll(range.substr(dash + 1)) + 1;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

} // namespace

bool is_index_media_type(std::string_view type) {
    return type == "application/vnd.oci.image.index.v1+json" || type == "application/vnd.docker.distribution.manifest.list.v2+json";
}

bool is_manifest_media_type(std::string_view type) {
    return type == "application/vnd.oci.image.manifest.v1+json" || type == "application/vnd.docker.distribution.manifest.v2+json";
}

std::vector<std::string> Repository::pull_scope() const { return {repository_scope(path_, false)}; }
std::vector<std::string> Repository::push_scope() const { return {repository_scope(path_, true)}; }

FetchedManifest Repository::get_manifest(HttpClient& http, const std::string& reference) {
    const std::string what = "manifest '" + path_ + ":" + reference + "' of " + registry_.domain();
    registry_.ping(http);
    const HttpRequest request = get_request(manifest_url(registry_.base(), path_, reference), {accept_header()});
    const HttpResponse response = registry_.send_retrying(http, request, pull_scope(), what);
    if (response.status == 404) throw Error(what + ": not found");
    if (response.status != 200) throw_failure("GET " + what, response);
    FetchedManifest manifest{response.body, media_type_of(response, response.body), sha256_digest(response.body)};
    if (reference.find(':') != std::string::npos && reference != manifest.digest)
        throw Error(what + ": its content's digest is " + manifest.digest);
    const std::string claimed = response.header("docker-content-digest");
    if (claimed.starts_with("sha256:") && claimed != manifest.digest)
        throw Error(what + ": the registry calls it " + claimed + " but its content's digest is " + manifest.digest);
    if (manifest.media_type.starts_with("application/vnd.docker.distribution.manifest.v1"))
        throw Error(what + ": docker schema 1 manifests are not supported");
    if (!is_manifest_media_type(manifest.media_type) && !is_index_media_type(manifest.media_type))
        throw Error(what + ": unsupported media type '" + manifest.media_type + "'");
    return manifest;
}

std::string Repository::put_manifest(HttpClient& http, const std::string& reference, const std::string& bytes,
                                     const std::string& media_type) {
    const std::string what = "PUT manifest '" + path_ + ":" + reference + "' to " + registry_.domain();
    registry_.ping(http);
    HttpRequest request;
    request.method = "PUT";
    request.url = manifest_url(registry_.base(), path_, reference);
    request.headers = {"Content-Type: " + media_type};
    request.body_size = static_cast<std::int64_t>(bytes.size());
    request.body = [&bytes](std::int64_t offset, char* buffer, std::size_t size) {
        return bytes.copy(buffer, size, static_cast<std::size_t>(offset));
    };
    const HttpResponse response = registry_.send_retrying(http, request, push_scope(), what);
    if (response.status != 201 && response.status != 200) throw_failure(what, response);
    const std::string digest = sha256_digest(bytes);
    const std::string claimed = response.header("docker-content-digest");
    if (claimed.starts_with("sha256:") && claimed != digest)
        throw Error(what + ": the registry stored it as " + claimed + ", not " + digest);
    return digest;
}

void Repository::fetch_blob(HttpClient& http, store::Store& store, const store::Descriptor& blob, TransferProgress& progress) {
    const std::string what = "blob " + blob.digest + " of '" + path_ + "'";
    registry_.ping(http);
    store::BlobWriter writer = store.new_blob();
    std::int64_t received = 0;
    const RetryPolicy& policy = registry_.options().retry;
    progress.status(blob.digest, "Downloading", blob.size);
    for (int attempt = 1;; ++attempt) {
        HttpRequest request = get_request(blob_url(registry_.base(), path_, blob.digest));
        request.follow_redirects = true;
        const bool resuming = received > 0;
        if (resuming) request.headers.push_back("Range: bytes=" + std::to_string(received) + "-");
        request.on_response = [&](const HttpResponse& response) {
            if (!resuming) return;
            const std::string range = response.header("content-range");
            if (response.status == 206 && range.starts_with("bytes " + std::to_string(received) + "-")) return;
            // The whole blob again (no Range support): what was received goes.
            writer = store.new_blob();
            received = 0;
            progress.restart(blob.digest);
        };
        request.on_body = [&](const char* data, std::size_t size) {
            if (received + static_cast<std::int64_t>(size) > blob.size)
                throw Error(what + ": the registry sends more than the " + std::to_string(blob.size) + " bytes its descriptor says");
            writer.write(data, size);
            received += static_cast<std::int64_t>(size);
            progress.advance(blob.digest, static_cast<std::int64_t>(size));
        };
        HttpResponse response;
        try {
            response = registry_.send(http, request, pull_scope());
        } catch (const TransportError& e) {
            if (!e.transient() || attempt >= policy.attempts) throw Error(what + ": " + e.message());
            progress.status(blob.digest, "Retrying (" + e.reason() + ")");
            backoff(policy, attempt);
            continue;
        }
        if (response.status == 200 || response.status == 206) break;
        if ((response.status >= 500 || response.status == 429) && attempt < policy.attempts) {
            backoff(policy, attempt, &response);
            continue;
        }
        throw_failure("GET " + what, response);
    }
    if (received != blob.size)
        throw Error(what + ": the registry sent " + std::to_string(received) + " bytes, its descriptor says " + std::to_string(blob.size));
    with_context(what, [&] { writer.commit(blob.media_type, blob.digest); });
}

bool Repository::blob_exists(HttpClient& http, const store::Descriptor& blob) {
    HttpRequest request = get_request(blob_url(registry_.base(), path_, blob.digest));
    request.method = "HEAD";
    request.follow_redirects = true;  // to the registry's storage, as GET
    const HttpResponse response = registry_.send_retrying(http, request, push_scope(), "HEAD blob " + blob.digest);
    if (response.status == 200) return true;
    if (response.status == 404) return false;
    throw_failure("HEAD blob " + blob.digest + " in '" + path_ + "'", response);
}

std::optional<std::string> Repository::try_mount(HttpClient& http, const store::Descriptor& blob, const std::string& from, bool& mounted) {
    HttpRequest request;
    request.method = "POST";
    request.url = mount_url(registry_.base(), path_, blob.digest, from);
    const std::vector<std::string> scopes{repository_scope(path_, true), repository_scope(from, false)};
    const HttpResponse response = registry_.send_retrying(http, request, scopes, "mounting blob " + blob.digest);
    mounted = response.status == 201;
    if (response.status == 202) return location_of(registry_, response);  // not mounted: an upload began
    return std::nullopt;
}

std::string Repository::start_upload(HttpClient& http) {
    HttpRequest request;
    request.method = "POST";
    request.url = upload_url(registry_.base(), path_);
    const HttpResponse response = registry_.send(http, request, push_scope());
    if (response.status != 202) check_retryable("POST upload to '" + path_ + "'", response);
    return location_of(registry_, response);
}

void Repository::upload_monolithic(HttpClient& http, const std::string& location, int fd, const store::Descriptor& blob,
                                   TransferProgress& progress) {
    HttpRequest request;
    request.method = "PUT";
    request.url = with_query(location, "digest", blob.digest);
    request.headers = {"Content-Type: application/octet-stream"};
    request.body_size = blob.size;
    request.body = file_body(fd, 0, blob.size, progress, blob.digest);
    const HttpResponse response = registry_.send(http, request, push_scope());
    if (response.status != 201) check_retryable("PUT blob " + blob.digest, response);
}

void Repository::upload_chunked(HttpClient& http, std::string location, int fd, const store::Descriptor& blob,
                                std::int64_t chunk_size, TransferProgress& progress) {
    std::int64_t offset = 0;
    int failures = 0;
    const RetryPolicy& policy = registry_.options().retry;
    while (offset < blob.size) {
        const std::int64_t length = std::min(chunk_size, blob.size - offset);
        HttpRequest request;
        request.method = "PATCH";
        request.url = location;
        request.headers = {"Content-Type: application/octet-stream",
                           "Content-Range: " + std::to_string(offset) + "-" + std::to_string(offset + length - 1)};
        request.body_size = length;
        request.body = file_body(fd, offset, length, progress, blob.digest);
        try {
            const HttpResponse response = registry_.send(http, request, push_scope());
            if (response.status != 202) check_retryable("PATCH blob " + blob.digest, response);
            location = location_of(registry_, response);
            offset += length;
            continue;
        } catch (const TransportError& e) {
            if (!e.transient() || ++failures >= policy.attempts) throw;
        } catch (const RetryableFailure&) {
            if (++failures >= policy.attempts) throw;
        }
        // Where the registry got to: the upload goes on from there, or starts again.
        backoff(policy, failures);
        const HttpResponse status = registry_.send(http, get_request(location), push_scope());
        const auto next = next_offset(status.header("range"));
        if (status.status != 204 || !next) throw RetryableFailure("the upload of " + blob.digest + " was lost");
        offset = *next;
        if (!status.header("location").empty()) location = location_of(registry_, status);
    }
    HttpRequest finish;
    finish.method = "PUT";
    finish.url = with_query(location, "digest", blob.digest);
    const HttpResponse response = registry_.send(http, finish, push_scope());
    if (response.status != 201) check_retryable("PUT blob " + blob.digest, response);
}

Repository::Upload Repository::push_blob(HttpClient& http, const store::Store& store, const store::Descriptor& blob,
                                         const std::optional<std::string>& mount_from, std::int64_t chunk_size,
                                         TransferProgress& progress) {
    return with_context("pushing blob " + blob.digest + " to '" + path_ + "'", [&] {
        registry_.ping(http);
        if (blob_exists(http, blob)) return Upload::exists;
        std::string location;
        if (mount_from) {
            bool mounted = false;
            location = try_mount(http, blob, *mount_from, mounted).value_or("");
            if (mounted) return Upload::mounted;
        }
        const std::string path = store.blob_path(blob.digest).string();
        const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) throw_errno("open", path);
        progress.status(blob.digest, "Pushing", blob.size);
        const RetryPolicy& policy = registry_.options().retry;
        for (int attempt = 1;; ++attempt) {
            try {
                if (location.empty()) location = start_upload(http);
                if (chunk_size > 0 && blob.size > chunk_size) upload_chunked(http, location, fd.get(), blob, chunk_size, progress);
                else upload_monolithic(http, location, fd.get(), blob, progress);
                return Upload::uploaded;
            } catch (const TransportError& e) {
                if (!e.transient() || attempt >= policy.attempts) throw;
                progress.status(blob.digest, "Retrying (" + e.reason() + ")");
            } catch (const RetryableFailure& e) {
                if (attempt >= policy.attempts) throw;
                progress.status(blob.digest, "Retrying (" + std::string(e.what()) + ")");
            }
            location.clear();
            progress.restart(blob.digest);
            backoff(policy, attempt);
        }
    });
}

void run_transfers(std::size_t count, int jobs, const std::function<void(HttpClient& http, std::size_t index)>& task) {
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex mutex;
    std::exception_ptr first_error;
    const auto worker = [&] {
        try {
            HttpClient http;
            for (std::size_t i = next++; i < count && !failed; i = next++) task(http, i);
        } catch (...) {
            const std::lock_guard lock(mutex);
            if (!first_error) first_error = std::current_exception();
            failed = true;
        }
    };
    const std::size_t threads = std::min<std::size_t>(count, static_cast<std::size_t>(std::max(jobs, 1)));
    {
        std::vector<std::jthread> pool;
        for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
        if (threads > 0) worker();  // this thread is one of them
    }  // joined here
    if (first_error) std::rethrow_exception(first_error);
}

} // namespace strata::registry
