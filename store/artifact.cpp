// OCI artifacts in the store and in OCI layout directories (artifact.hpp).
#include "store/artifact.hpp"
#include "store/internal.hpp"

#include "util/error.hpp"
#include "util/sha256.hpp"

#include <fcntl.h>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace strata::store {

namespace {

constexpr std::int64_t max_document_bytes = 4 << 20;  // a manifest or index.json: never a stream

fs::path blob_in(const fs::path& dir, std::string_view digest) {
    return dir / "blobs" / "sha256" / std::string(digest.substr(7));
}

// Copies `from` (size bytes expected) to `sink` in bounded chunks, hashing on the way; the
// digest must be `digest`. A blob read from a directory someone else wrote is not trusted.
template <typename Sink>
void copy_verified(const fs::path& from, const Descriptor& blob, Sink&& sink) {
    const Fd fd(::open(from.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) throw_errno("open", from.string());
    std::vector<char> buffer(detail::io_chunk_size);
    Sha256 sha;
    std::int64_t copied = 0;
    for (;;) {
        const std::size_t n = read_some(fd.get(), buffer.data(), buffer.size(), from.c_str());
        if (n == 0) break;
        copied += static_cast<std::int64_t>(n);
        if (copied > blob.size) break;
        sha.update(buffer.data(), n);
        sink(buffer.data(), n);
    }
    if (copied != blob.size || sha.digest() != blob.digest)
        throw Error("blob '" + blob.digest + "' is corrupt: its content does not match its descriptor");
}

// A blob into the layout directory unless it is there: temp file, fsync, rename.
void put_layout_blob(const Store& store, const Descriptor& blob, const fs::path& dir) {
    const fs::path target = blob_in(dir, blob.digest);
    struct stat st {};
    if (::lstat(target.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == blob.size) return;
    std::string temp = (target.parent_path() / ".tmp-XXXXXX").string();
    Fd out(::mkostemp(temp.data(), O_CLOEXEC));
    if (!out) throw_errno("mkstemp", temp);
    try {
        copy_verified(store.blob_path(blob.digest), blob,
                      [&](const char* data, std::size_t n) { write_all(out.get(), data, n, temp.c_str()); });
        if (::fchmod(out.get(), 0644) != 0 || ::fsync(out.get()) != 0) throw_errno("fsync", temp);
        if (::rename(temp.c_str(), target.c_str()) != 0) throw_errno("rename", target.string());
    } catch (...) {
        ::unlink(temp.c_str());
        throw;
    }
}

json read_json_file(const fs::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw_errno("stat", path.string());
    if (st.st_size > max_document_bytes) throw Error("'" + path.string() + "' is too large");
    json doc = json::parse(read_file(path), nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) throw Error("'" + path.string() + "' is not a JSON object");
    return doc;
}

bool names(const json& entry, std::string_view name) {
    const auto annotations = entry.find("annotations");
    if (annotations == entry.end() || !annotations->is_object()) return false;
    const auto ref = annotations->find(ref_name_annotation);
    return ref != annotations->end() && ref->is_string() && ref->get<std::string>() == name;
}

// index.json of the layout with `manifest` under `name` and every other entry kept.
json updated_index(const fs::path& index_path, const Descriptor& manifest, std::string_view name) {
    json manifests = json::array();
    if (fs::exists(index_path)) {
        const json old = read_json_file(index_path);
        if (const auto list = old.find("manifests"); list != old.end() && list->is_array())
            for (const auto& entry : *list)
                if (!names(entry, name)) manifests.push_back(entry);
    }
    Descriptor named = manifest;
    named.annotations = {{ref_name_annotation, std::string(name)}};
    manifests.push_back(to_json(named));
    return {{"schemaVersion", 2}, {"mediaType", media::index}, {"manifests", std::move(manifests)}};
}

} // namespace

std::vector<Descriptor> Artifact::blobs() const {
    std::vector<Descriptor> out{config};
    std::set<std::string> seen{config.digest};
    for (const auto& layer : layers)
        if (seen.insert(layer.digest).second) out.push_back(layer);
    return out;
}

Descriptor write_artifact(Store& store, std::string_view artifact_type, const Descriptor& config,
                          const std::vector<Descriptor>& layers) {
    json layer_list = json::array();
    for (const auto& layer : layers) layer_list.push_back(to_json(layer));
    const json manifest = {{"schemaVersion", 2},
                           {"mediaType", media::manifest},
                           {"artifactType", std::string(artifact_type)},
                           {"config", to_json(config)},
                           {"layers", std::move(layer_list)}};
    // Blobs committed without a sync of their names (commit_layer) become durable first.
    store.sync();
    return store.put_blob(manifest.dump(), media::manifest);
}

Artifact parse_artifact(std::string_view manifest_bytes, const Descriptor& manifest) {
    return with_context("manifest " + manifest.digest, [&] {
        const json doc = json::parse(manifest_bytes, nullptr, false);
        if (doc.is_discarded() || !doc.is_object()) throw Error("it is not a JSON object");
        if (doc.value("schemaVersion", 0) != 2) throw Error("its schemaVersion is not 2");
        if (const auto type = doc.find("mediaType"); type != doc.end() && *type != media::manifest)
            throw Error("it is not an OCI image manifest");
        const auto config = doc.find("config");
        const auto layers = doc.find("layers");
        if (config == doc.end()) throw Error("it has no config");
        if (layers == doc.end() || !layers->is_array()) throw Error("it has no layers array");
        Artifact artifact{manifest, "", descriptor_from_json(*config), {}};
        if (const auto type = doc.find("artifactType"); type != doc.end() && type->is_string())
            artifact.artifact_type = type->get<std::string>();
        for (const auto& layer : *layers) artifact.layers.push_back(descriptor_from_json(layer));
        return artifact;
    });
}

Artifact read_artifact(const Store& store, const Descriptor& manifest) {
    return parse_artifact(store.read_blob(manifest.digest), manifest);
}

void write_artifact_layout(const Store& store, const Descriptor& manifest, const fs::path& dir, std::string_view name) {
    with_context("writing the OCI layout '" + dir.string() + "'", [&] {
        const Artifact artifact = read_artifact(store, manifest);
        make_dirs(dir / "blobs" / "sha256");
        // A second writer of the same directory waits: index.json is read, then replaced.
        const FileLock lock(dir / ".strata-lock", FileLock::Mode::exclusive);
        for (const auto& blob : artifact.blobs()) put_layout_blob(store, blob, dir);
        put_layout_blob(store, manifest, dir);
        fsync_path(dir / "blobs" / "sha256");
        write_file_atomic(dir / "oci-layout", json{{"imageLayoutVersion", "1.0.0"}}.dump());
        // Last: the name moves to the new artifact only once all of it is durable.
        write_file_atomic(dir / "index.json", updated_index(dir / "index.json", manifest, name).dump());
    });
}

std::optional<Descriptor> read_artifact_layout(Store& store, const fs::path& dir, std::string_view name) {
    return with_context("reading the OCI layout '" + dir.string() + "'", [&]() -> std::optional<Descriptor> {
        if (!fs::exists(dir / "index.json")) return std::nullopt;
        const json index = read_json_file(dir / "index.json");
        const auto list = index.find("manifests");
        if (list == index.end() || !list->is_array()) throw Error("index.json has no manifests array");
        std::optional<Descriptor> manifest;
        for (const auto& entry : *list)
            if (names(entry, name)) manifest = descriptor_from_json(entry);
        if (!manifest) return std::nullopt;
        if (manifest->size > max_document_bytes) throw Error("manifest " + manifest->digest + " is too large");
        std::string bytes;
        copy_verified(blob_in(dir, manifest->digest), *manifest, [&](const char* data, std::size_t n) { bytes.append(data, n); });
        const Artifact artifact = parse_artifact(bytes, *manifest);
        for (const auto& blob : artifact.blobs()) {
            if (store.has_blob(blob.digest)) continue;
            BlobWriter writer = store.new_blob();
            copy_verified(blob_in(dir, blob.digest), blob, [&](const char* data, std::size_t n) { writer.write(data, n); });
            writer.commit(blob.media_type, blob.digest);
        }
        Descriptor stored = store.put_blob(bytes, media::manifest);
        return stored;
    });
}

} // namespace strata::store
