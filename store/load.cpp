// Loading, second half: the images of a staged archive. An OCI layout (index.json) is
// read first, as docker 25+ does with its own archives; else a docker archive's
// manifest.json. Every manifest, config and layer is checked (present, the size its
// descriptor states, a layer's content the diff id its config states) before anything
// is published; then the blobs get their names, new manifests are written, and the
// images are tagged.
#include "store/exchange_internal.hpp"
#include "store/platform.hpp"

#include "util/error.hpp"

#include <set>

namespace strata::store {

namespace {

using detail::Compression;
using detail::StagedArchive;
using detail::StagedFile;

namespace docker_media {
constexpr std::string_view config = "application/vnd.docker.container.image.v1+json";
constexpr std::string_view layer_gzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
} // namespace docker_media

constexpr int max_index_depth = 4;

bool is_oci_layer_type(std::string_view t) { return t == media::layer_tar || t == media::layer_gzip || t == media::layer_zstd; }

// An image found in the archive, checked, with what must be published for it.
struct PendingImage {
    std::string source;  // where it was found, for errors
    std::vector<std::string> names;
    Descriptor manifest;                      // the archive's own manifest, kept as it is
    std::optional<std::string> new_manifest;  // or one written for it (docker formats)
    std::vector<StagedFile*> blobs;
};

// A member that must be a string when present (hostile JSON must not reach nlohmann's
// type errors); nullopt when absent.
std::optional<std::string> string_member(const json& object, const char* key) {
    const auto it = object.find(key);
    if (it == object.end()) return std::nullopt;
    if (!it->is_string()) throw Error(std::string("its ") + key + " is not a string");
    return it->get<std::string>();
}

std::string string_field(const json& item, const char* key) {
    auto value = string_member(item, key);
    if (!value) throw Error(std::string("it has no ") + key);
    return std::move(*value);
}

json parse_json(StagedArchive& archive, const StagedFile& file, bool (json::*is_kind)() const noexcept, const char* kind) {
    json doc = json::parse(archive.document(file), nullptr, false);
    if (doc.is_discarded() || !(doc.*is_kind)()) throw Error("'" + file.entry + "' is not a JSON " + kind);
    return doc;
}
json parse_object(StagedArchive& archive, const StagedFile& file) { return parse_json(archive, file, &json::is_object, "object"); }

StagedFile& named_file(StagedArchive& archive, const std::string& name) {
    StagedFile* file = archive.find(name);
    if (!file) throw Error("the archive has no file '" + name + "'");
    return *file;
}

// The staged blob a descriptor names, holding the size the descriptor states.
StagedFile& described_blob(StagedArchive& archive, const Descriptor& d) {
    StagedFile* file = archive.blob(d.digest);
    if (!file) throw Error("blob " + d.digest + " is not in the archive");
    if (file->blob.size != d.size)
        throw Error("blob " + d.digest + " has " + std::to_string(file->blob.size) + " bytes, its descriptor says " +
                    std::to_string(d.size));
    return *file;
}

std::vector<std::string> diff_ids_of(const json& config) {
    Image image;
    image.config = config;
    return image.diff_ids();
}

// Checks that a layer's content is the diff id its config gives it; returns the OCI media
// type of its bytes as they are.
std::string checked_layer(const StagedFile& layer, const std::string& diff_id, const std::string& what) {
    if (!layer.diff_id) throw Error(what + " does not decompress: " + layer.decode_error);
    if (*layer.diff_id != diff_id)
        throw Error(what + " is not the layer its config names: its content is " + *layer.diff_id + ", the config says " +
                    diff_id);
    switch (layer.compression) {
    case Compression::gzip: return media::layer_gzip;
    case Compression::zstd: return media::layer_zstd;
    case Compression::none: break;
    }
    return media::layer_tar;
}

// The OCI manifest strata writes for a config and layers (the same document write_image makes).
std::string manifest_document(const Descriptor& config, const std::vector<Descriptor>& layers) {
    json list = json::array();
    for (const auto& layer : layers) list.push_back(to_json(layer));
    return json{{"schemaVersion", 2}, {"mediaType", media::manifest}, {"config", to_json(config)}, {"layers", std::move(list)}}
        .dump();
}

// A name from an archive ("docker.io/library/busybox:latest", "busybox") as the store keeps
// it: docker's familiar "name:tag".
std::string loaded_name(const std::string& raw) {
    return with_context("image name '" + raw + "'", [&] { return normalize_tag(raw); });
}

// ---------------------------------------------------------------- OCI layouts

PendingImage image_from_manifest(StagedArchive& archive, const Descriptor& desc, std::vector<std::string> names,
                                 const std::string& where) {
    return with_context(where + " (manifest " + desc.digest + ")", [&] {
        StagedFile& manifest_file = described_blob(archive, desc);
        const json manifest = parse_object(archive, manifest_file);
        if (!manifest.contains("schemaVersion") || manifest["schemaVersion"] != 2) throw Error("its schemaVersion is not 2");
        const std::string type = string_member(manifest, "mediaType").value_or(desc.media_type);
        if (type != desc.media_type) throw Error("its mediaType '" + type + "' is not its descriptor's");
        if (!manifest.contains("config")) throw Error("it has no config");
        const Descriptor config = descriptor_from_json(manifest["config"]);
        if (config.media_type != media::config && config.media_type != docker_media::config)
            throw Error("config media type '" + config.media_type + "' is not an image config");
        StagedFile& config_file = described_blob(archive, config);
        const auto diff_ids = with_context("config " + config.digest, [&] { return diff_ids_of(parse_object(archive, config_file)); });
        Image parsed;
        parsed.manifest = manifest;
        const auto layers = parsed.layers();
        if (layers.size() != diff_ids.size())
            throw Error("it has " + std::to_string(layers.size()) + " layers, its config " + std::to_string(diff_ids.size()) +
                        " diff ids");
        PendingImage image{where, std::move(names), {}, std::nullopt, {&config_file}};
        // Docker's media types become OCI ones, in a manifest of strata's own: the store
        // and `strata run` read OCI images.
        bool convert = type != media::manifest || config.media_type != media::config;
        std::vector<Descriptor> oci_layers;
        for (std::size_t i = 0; i < layers.size(); ++i) {
            const Descriptor& layer = layers[i];
            if (!is_oci_layer_type(layer.media_type) && layer.media_type != docker_media::layer_gzip)
                throw Error("layer " + std::to_string(i) + " has the unsupported media type '" + layer.media_type + "'");
            StagedFile& file = described_blob(archive, layer);
            const std::string actual = checked_layer(file, diff_ids[i], "layer " + std::to_string(i) + " (" + layer.digest + ")");
            convert = convert || !is_oci_layer_type(layer.media_type);
            oci_layers.push_back({actual, layer.digest, layer.size, layer.annotations});
            image.blobs.push_back(&file);
        }
        if (convert) {
            image.new_manifest = manifest_document({media::config, config.digest, config.size, {}}, oci_layers);
        } else {
            image.manifest = {media::manifest, desc.digest, desc.size, {}};
            image.blobs.push_back(&manifest_file);
        }
        return image;
    });
}

void collect_images(StagedArchive& archive, const Descriptor& d, const std::vector<std::string>& names,
                    const std::string& where, int depth, std::vector<PendingImage>& out) {
    if (is_manifest_media_type(d.media_type)) return out.push_back(image_from_manifest(archive, d, names, where));
    if (!is_index_media_type(d.media_type)) throw Error(where + " has the unsupported media type '" + d.media_type + "'");
    if (depth >= max_index_depth) throw Error(where + ": indexes nested more than " + std::to_string(max_index_depth) + " deep");
    const Descriptor chosen = with_context(where + " (index " + d.digest + ")", [&] {
        const Platform host = host_platform();
        auto chosen = platform_manifest(parse_object(archive, described_blob(archive, d)), host);
        if (!chosen) throw Error("it holds no image for " + host.string());
        return *chosen;
    });
    collect_images(archive, chosen, names, where + " > " + chosen.digest, depth + 1, out);
}

// containerd's full name (docker 25+), else ref.name (skopeo, buildah, strata).
std::vector<std::string> names_of(const Descriptor& d) {
    for (const char* key : {containerd_name_annotation, ref_name_annotation}) {
        if (const auto it = d.annotations.find(key); it != d.annotations.end()) return {loaded_name(it->second)};
    }
    return {};
}

std::vector<PendingImage> images_from_layout(StagedArchive& archive) {
    if (archive.has("oci-layout")) {
        const json layout = parse_object(archive, named_file(archive, "oci-layout"));
        with_context("oci-layout", [&] { return string_field(layout, "imageLayoutVersion"); });
    }
    const json index = parse_object(archive, named_file(archive, "index.json"));
    const auto manifests = index.find("manifests");
    if (manifests == index.end() || !manifests->is_array()) throw Error("index.json has no manifests array");
    std::vector<PendingImage> images;
    for (std::size_t i = 0; i < manifests->size(); ++i) {
        const std::string where = "index.json manifests[" + std::to_string(i) + "]";
        const Descriptor d = with_context(where, [&] { return descriptor_from_json((*manifests)[i]); });
        const auto names = with_context(where, [&] { return names_of(d); });
        collect_images(archive, d, names, where, 0, images);
    }
    if (images.empty()) throw Error("index.json lists no image");
    return images;
}

// ---------------------------------------------------------------- docker archives

std::vector<std::string> repo_tags(const json& item) {
    const auto it = item.find("RepoTags");
    if (it == item.end() || it->is_null()) return {};
    if (!it->is_array()) throw Error("its RepoTags is not a list");
    std::vector<std::string> names;
    for (const auto& tag : *it) {
        if (!tag.is_string()) throw Error("its RepoTags holds a non-string");
        names.push_back(loaded_name(tag.get<std::string>()));
    }
    return names;
}

// One manifest.json item: {"Config": path, "RepoTags": [...], "Layers": [paths]}, the
// files named by archive paths (docker 20.10: <id>.json and <id>/layer.tar; docker 25+:
// blobs/sha256/<hex>).
PendingImage image_from_docker_item(StagedArchive& archive, const json& item, const std::string& where) {
    return with_context(where, [&] {
        if (!item.is_object()) throw Error("not a JSON object");
        StagedFile& config_file = named_file(archive, detail::normalised_entry_name(string_field(item, "Config")));
        const auto diff_ids = with_context("config '" + config_file.entry + "'", [&] {
            return diff_ids_of(parse_object(archive, config_file));
        });
        const auto layers = item.find("Layers");
        if (layers == item.end() || !layers->is_array()) throw Error("its Layers is not a list");
        if (layers->size() != diff_ids.size())
            throw Error("it lists " + std::to_string(layers->size()) + " layers, its config " +
                        std::to_string(diff_ids.size()) + " diff ids");
        PendingImage image{where, repo_tags(item), {}, std::nullopt, {&config_file}};
        std::vector<Descriptor> descriptors;
        for (std::size_t i = 0; i < layers->size(); ++i) {
            const auto& path = (*layers)[i];
            if (!path.is_string()) throw Error("its Layers holds a non-string");
            StagedFile& file = named_file(archive, detail::normalised_entry_name(path.get<std::string>()));
            const std::string type = checked_layer(file, diff_ids[i], "layer '" + file.entry + "'");
            descriptors.push_back({type, file.blob.digest, file.blob.size, {}});
            image.blobs.push_back(&file);
        }
        image.new_manifest = manifest_document({media::config, config_file.blob.digest, config_file.blob.size, {}}, descriptors);
        return image;
    });
}

std::vector<PendingImage> images_from_docker_manifest(StagedArchive& archive) {
    const json list = parse_json(archive, named_file(archive, "manifest.json"), &json::is_array, "list");
    if (list.empty()) throw Error("manifest.json lists no image");
    std::vector<PendingImage> images;
    for (std::size_t i = 0; i < list.size(); ++i)
        images.push_back(image_from_docker_item(archive, list[i], "manifest.json[" + std::to_string(i) + "]"));
    return images;
}

// ---------------------------------------------------------------- storing

// Everything is verified: name the blobs (their bytes made durable first), write the new
// manifests, read each image back as `strata run` will, and only then tag them all.
std::vector<LoadedImage> store_images(Store& store, std::vector<PendingImage>& images) {
    store.sync();
    std::set<std::string> published;
    for (auto& image : images) {
        for (StagedFile* file : image.blobs) {
            if (published.insert(file->blob.digest).second && !store.has_blob(file->blob.digest)) file->writer.publish();
        }
    }
    fsync_path(store.layout_dir() / "blobs" / "sha256");
    for (auto& image : images) {
        if (image.new_manifest) image.manifest = store.put_blob(*image.new_manifest, media::manifest);
        with_context(image.source, [&] { store.load_image(image.manifest); });
    }
    std::vector<LoadedImage> loaded;
    for (const auto& image : images) {
        for (const auto& name : image.names) store.tag(name, image.manifest);
        if (image.names.empty()) store.keep_untagged(image.manifest);
        loaded.push_back({image.manifest, image.names});
    }
    return loaded;
}

} // namespace

std::vector<LoadedImage> load_image_archive(Store& store, int fd, std::string_view shown, const LoadLimits& limits) {
    StagedArchive archive(store, limits);
    archive.read(fd, shown);
    auto images = with_context("loading '" + std::string(shown) + "'", [&] {
        if (archive.has("index.json")) return images_from_layout(archive);
        if (archive.has("manifest.json")) return images_from_docker_manifest(archive);
        throw Error("it is neither an OCI image layout (no index.json) nor a docker archive (no manifest.json)");
    });
    return store_images(store, images);
}

} // namespace strata::store
