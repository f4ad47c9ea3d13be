// The OCI image layout: oci-layout, index.json (tags as ref.name annotations), and the
// image (manifest + config) documents.
#include "store/store.hpp"

#include "util/error.hpp"
#include "util/sha256.hpp"

#include <algorithm>
#include <fcntl.h>
#include <unistd.h>

namespace strata::store {

namespace {

fs::path index_path(const Store& s) { return s.layout_dir() / "index.json"; }

json empty_index() {
    return json{{"schemaVersion", 2}, {"mediaType", media::index}, {"manifests", json::array()}};
}

json read_index(const Store& s) {
    const fs::path path = index_path(s);
    return with_context("reading '" + path.string() + "'", [&] {
        json index = json::parse(read_file(path), nullptr, false);
        if (index.is_discarded() || !index.is_object()) throw Error("not a JSON object");
        const auto manifests = index.find("manifests");
        if (manifests == index.end() || !manifests->is_array()) throw Error("no manifests array");
        return index;
    });
}

std::vector<Descriptor> index_manifests(const Store& s) {
    std::vector<Descriptor> out;
    const json index = read_index(s);
    for (const auto& entry : index["manifests"]) out.push_back(descriptor_from_json(entry));
    return out;
}

bool is_hex(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_layer_media_type(std::string_view type) {
    return type == media::layer_tar || type == media::layer_gzip || type == media::layer_zstd;
}

json parse_document(const std::string& bytes, const std::string& what) {
    json doc = json::parse(bytes, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) throw Error(what + " is not a JSON object");
    return doc;
}

// Reads a blob named by a descriptor, checking its size as well as its digest.
std::string read_described_blob(const Store& s, const Descriptor& d) {
    std::string bytes = s.read_blob(d.digest);
    if (static_cast<std::int64_t>(bytes.size()) != d.size)
        throw Error("blob '" + d.digest + "' has size " + std::to_string(bytes.size()) + ", descriptor says " +
                    std::to_string(d.size));
    return bytes;
}

std::vector<std::string> config_diff_ids(const json& config) {
    const auto rootfs = config.find("rootfs");
    if (rootfs == config.end() || !rootfs->is_object()) return {};
    const auto ids = rootfs->find("diff_ids");
    if (ids == rootfs->end() || !ids->is_array()) throw Error("config rootfs.diff_ids is not an array");
    std::vector<std::string> out;
    for (const auto& id : *ids) {
        if (!id.is_string() || !is_sha256_digest(id.get<std::string>()))
            throw Error("config rootfs.diff_ids holds a malformed digest");
        out.push_back(id.get<std::string>());
    }
    return out;
}

} // namespace

Store::Store(fs::path root) : root_(std::move(root)) {
    with_context("opening store '" + root_.string() + "'", [&] {
        make_dirs(root_);
        make_dirs(layout_dir() / "blobs" / "sha256");
        make_dirs(root_ / "tmp");
        make_dirs(root_ / "snapshots");
        make_dirs(root_ / "records");
        const FileLock guard = lock(FileLock::Mode::exclusive);
        if (!fs::exists(layout_dir() / "oci-layout"))
            write_file_atomic(layout_dir() / "oci-layout", json{{"imageLayoutVersion", "1.0.0"}}.dump());
        if (!fs::exists(index_path(*this))) write_file_atomic(index_path(*this), empty_index().dump());
    });
    start_session();
}

void Store::tag(std::string_view name, const Descriptor& manifest) {
    const std::string ref = normalize_tag(name);
    if (!is_sha256_digest(manifest.digest)) throw Error("cannot tag '" + ref + "': malformed digest");
    const FileLock guard = lock(FileLock::Mode::exclusive);
    json index = read_index(*this);
    json kept = json::array();
    for (const auto& entry : index["manifests"]) {
        const Descriptor d = descriptor_from_json(entry);
        const auto it = d.annotations.find(ref_name_annotation);
        if (it != d.annotations.end() && it->second == ref && d.digest == manifest.digest &&
            d.media_type == manifest.media_type)
            return;  // already tagged so: nothing to write
        if (it == d.annotations.end() || it->second != ref) kept.push_back(entry);
    }
    Descriptor tagged = manifest;
    tagged.annotations[ref_name_annotation] = ref;
    kept.push_back(to_json(tagged));
    index["manifests"] = std::move(kept);
    write_file_atomic(index_path(*this), index.dump());
}

std::vector<std::pair<std::string, Descriptor>> Store::tags() const {
    std::vector<std::pair<std::string, Descriptor>> out;
    for (auto& d : index_manifests(*this)) {
        const auto it = d.annotations.find(ref_name_annotation);
        if (it != d.annotations.end()) out.emplace_back(it->second, std::move(d));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    return out;
}

std::optional<Descriptor> Store::resolve(std::string_view reference) const {
    const std::vector<Descriptor> manifests = index_manifests(*this);
    if (is_sha256_digest(reference)) {
        for (const auto& d : manifests) {
            if (d.digest == reference) return d;
        }
        return std::nullopt;
    }
    const std::string ref = normalize_tag(reference);
    if (const auto tagged = std::find_if(manifests.begin(), manifests.end(), [&](const Descriptor& d) {
            const auto it = d.annotations.find(ref_name_annotation);
            return it != d.annotations.end() && it->second == ref;
        });
        tagged != manifests.end())
        return *tagged;
    if (reference.size() < 4 || reference.size() > 64 || !is_hex(reference)) return std::nullopt;
    std::optional<Descriptor> found;
    for (const auto& d : manifests) {
        if (!std::string_view(d.digest).substr(7).starts_with(reference)) continue;
        if (found && found->digest != d.digest)
            throw Error("image id prefix '" + std::string(reference) + "' is ambiguous: " + found->digest + ", " + d.digest);
        found = d;
    }
    return found;
}

void Store::sync() const {
    Fd fd(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) throw_errno("open", root_.string());
    if (::syncfs(fd.get()) != 0) throw_errno("syncfs", root_.string());
}

Descriptor Store::write_image(const json& config, const std::vector<Descriptor>& layers) {
    if (!config.is_object()) throw Error("image config is not a JSON object");
    const auto diff_ids = config_diff_ids(config);
    if (diff_ids.size() != layers.size())
        throw Error("image config lists " + std::to_string(diff_ids.size()) + " diff ids for " +
                    std::to_string(layers.size()) + " layers");
    // Layers committed by commit_layer() may have names not yet on disk: make them durable
    // before a manifest that is on disk refers to them.
    sync();
    // nlohmann::json objects are std::maps: dump() gives sorted keys, so equal documents hash equally.
    const Descriptor config_desc = put_blob(config.dump(), media::config);
    json layer_list = json::array();
    for (const auto& layer : layers) layer_list.push_back(to_json(layer));
    const json manifest = {{"schemaVersion", 2},
                           {"mediaType", media::manifest},
                           {"config", to_json(config_desc)},
                           {"layers", std::move(layer_list)}};
    return put_blob(manifest.dump(), media::manifest);
}

Image Store::load_image(const Descriptor& manifest_desc) const {
    return with_context("loading image '" + manifest_desc.digest + "'", [&] {
        if (manifest_desc.media_type != media::manifest)
            throw Error("unsupported manifest media type '" + manifest_desc.media_type + "'");
        Image image;
        image.manifest_descriptor = manifest_desc;
        image.manifest = parse_document(read_described_blob(*this, manifest_desc), "manifest");
        const json& m = image.manifest;
        if (!m.contains("schemaVersion") || m["schemaVersion"] != 2) throw Error("manifest schemaVersion is not 2");
        if (m.contains("mediaType") && m["mediaType"] != media::manifest)
            throw Error("manifest mediaType disagrees with its descriptor");
        if (!m.contains("config")) throw Error("manifest has no config");
        const Descriptor config_desc = descriptor_from_json(m["config"]);
        if (config_desc.media_type != media::config)
            throw Error("unsupported config media type '" + config_desc.media_type + "'");
        const auto layers = image.layers();
        for (const auto& layer : layers) {
            if (!is_layer_media_type(layer.media_type))
                throw Error("unsupported layer media type '" + layer.media_type + "'");
        }
        image.config = parse_document(read_described_blob(*this, config_desc), "config");
        if (image.diff_ids().size() != layers.size())
            throw Error("config lists " + std::to_string(image.diff_ids().size()) + " diff ids for " +
                        std::to_string(layers.size()) + " layers");
        return image;
    });
}

std::vector<std::string> Image::diff_ids() const { return config_diff_ids(config); }

std::vector<Descriptor> Image::layers() const {
    const auto it = manifest.find("layers");
    if (it == manifest.end() || !it->is_array()) throw Error("manifest has no layers array");
    std::vector<Descriptor> out;
    for (const auto& layer : *it) out.push_back(descriptor_from_json(layer));
    return out;
}

} // namespace strata::store
