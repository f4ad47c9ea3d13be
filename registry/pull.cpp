// strata pull: manifest (an index picks a platform), the missing blobs in parallel, each
// verified as it is committed, then the manifest stored, read back and tagged, in that order.
#include "registry/registry.hpp"

#include "registry/sources.hpp"
#include "registry/transfer.hpp"
#include "store/registry_digests.hpp"
#include "util/error.hpp"

#include <set>

namespace strata::registry {

namespace {

using json = nlohmann::json;

namespace docker_media {
constexpr std::string_view config = "application/vnd.docker.container.image.v1+json";
constexpr std::string_view layer_gzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
constexpr std::string_view layer_tar = "application/vnd.docker.image.rootfs.diff.tar";
} // namespace docker_media

struct RemoteImage {
    FetchedManifest manifest;
    store::Descriptor config;
    std::vector<store::Descriptor> layers;
};

json parse_object(const std::string& bytes, const std::string& what) {
    json doc = json::parse(bytes, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) throw Error(what + " is not a JSON object");
    return doc;
}

// The OCI layer type for a layer's media type; throws for the ones strata cannot store.
std::string oci_layer_type(const std::string& type) {
    if (type == store::media::layer_gzip || type == store::media::layer_tar || type == store::media::layer_zstd) return type;
    if (type == docker_media::layer_gzip) return store::media::layer_gzip;
    if (type == docker_media::layer_tar) return store::media::layer_tar;
    throw Error("unsupported layer media type '" + type + "'");
}

RemoteImage read_image_manifest(FetchedManifest manifest) {
    return with_context("manifest " + manifest.digest, [&] {
        const json doc = parse_object(manifest.bytes, "it");
        if (!doc.contains("schemaVersion") || doc["schemaVersion"] != 2) throw Error("its schemaVersion is not 2");
        if (!doc.contains("config")) throw Error("it has no config");
        RemoteImage image{std::move(manifest), store::descriptor_from_json(doc["config"]), {}};
        if (image.config.media_type != store::media::config && image.config.media_type != docker_media::config)
            throw Error("its config has the media type '" + image.config.media_type + "', not an image config's");
        const auto layers = doc.find("layers");
        if (layers == doc.end() || !layers->is_array()) throw Error("it has no layers array");
        for (const auto& layer : *layers) {
            image.layers.push_back(store::descriptor_from_json(layer));
            oci_layer_type(image.layers.back().media_type);  // refused before anything is fetched
        }
        return image;
    });
}

// The image's own manifest when it is an OCI one, else one in OCI types naming the same
// blobs (the store and `strata run` read OCI images).
store::Descriptor store_manifest(store::Store& store, const RemoteImage& image) {
    bool oci = image.manifest.media_type == store::media::manifest && image.config.media_type == store::media::config;
    json layers = json::array();
    for (const auto& layer : image.layers) {
        store::Descriptor converted = layer;
        converted.media_type = oci_layer_type(layer.media_type);
        oci = oci && converted.media_type == layer.media_type;
        layers.push_back(store::to_json(converted));
    }
    if (oci) {
        const store::Descriptor stored = store.put_blob(image.manifest.bytes, store::media::manifest);
        if (stored.digest != image.manifest.digest) throw Error("manifest " + image.manifest.digest + " changed on its way to the store");
        return stored;
    }
    store::Descriptor config = image.config;
    config.media_type = store::media::config;
    const json manifest{{"schemaVersion", 2}, {"mediaType", store::media::manifest}, {"config", store::to_json(config)},
                        {"layers", std::move(layers)}};
    return store.put_blob(manifest.dump(), store::media::manifest);
}

RemoteImage resolve_image(Repository& repository, HttpClient& http, const std::string& reference, const store::Platform& platform,
                          std::string& remote_digest) {
    FetchedManifest top = repository.get_manifest(http, reference);
    remote_digest = top.digest;
    if (is_manifest_media_type(top.media_type)) return read_image_manifest(std::move(top));
    const store::Descriptor chosen = with_context("index " + top.digest, [&] {
        return store::select_platform(parse_object(top.bytes, "it"), platform);
    });
    if (!is_manifest_media_type(chosen.media_type))
        throw Error("index " + top.digest + " names " + chosen.digest + " of media type '" + chosen.media_type + "' for " + platform.string());
    FetchedManifest manifest = repository.get_manifest(http, chosen.digest);
    if (static_cast<std::int64_t>(manifest.bytes.size()) != chosen.size)
        throw Error("manifest " + chosen.digest + " has " + std::to_string(manifest.bytes.size()) + " bytes, its index says " +
                    std::to_string(chosen.size));
    return read_image_manifest(std::move(manifest));
}

// So that name@digest finds the image offline (store/registry_digests.hpp): the platform
// manifest's digest always; the reference's own (an index's) only for the host's platform,
// which is what a later name@digest means on this machine.
void remember_digests(const store::Store& store, const store::Reference& ref, const PullOptions& options,
                      const std::string& remote_digest, const std::string& platform_digest, const std::string& stored) {
    store::remember_registry_digest(store, ref.name(), platform_digest, stored);
    if (remote_digest != platform_digest && (!options.platform || *options.platform == store::host_platform()))
        store::remember_registry_digest(store, ref.name(), remote_digest, stored);
}

PullResult pull_from(Registry& registry, store::Store& store, const store::Reference& ref, const PullOptions& options,
                     TransferProgress& progress) {
    Repository repository(registry, ref.path);
    HttpClient http;
    const std::string reference = ref.digest.empty() ? ref.tag : ref.digest;
    progress.message((ref.digest.empty() ? ref.tag : ref.digest) + ": Pulling from " + ref.path);
    PullResult result;
    const RemoteImage image = resolve_image(repository, http, reference, options.platform.value_or(store::host_platform()), result.remote_digest);

    std::vector<store::Descriptor> missing;
    std::set<std::string> seen;
    std::vector<store::Descriptor> blobs{image.config};
    blobs.insert(blobs.end(), image.layers.begin(), image.layers.end());
    for (const auto& blob : blobs) {
        if (!seen.insert(blob.digest).second) continue;
        if (store.has_blob(blob.digest)) progress.status(blob.digest, "Already exists");
        else missing.push_back(blob);
    }
    run_transfers(missing.size(), options.jobs, [&](HttpClient& worker, std::size_t i) {
        repository.fetch_blob(worker, store, missing[i], progress);
        progress.status(missing[i].digest, "Pull complete");
    });
    for (const auto& digest : seen) remember_source(store, digest, ref.domain + "/" + ref.path);

    result.manifest = store_manifest(store, image);
    store.load_image(result.manifest);  // reads back as `strata run` will, before any name points at it
    store::Reference name = ref;
    name.digest.clear();
    if (!name.tag.empty()) {
        store.tag(name.string(), result.manifest);
        result.name = name.string();
    } else {
        store.keep_untagged(result.manifest);  // docker keeps a digest pull as name@digest; we keep it unnamed
        result.name = ref.string();
    }
    remember_digests(store, ref, options, result.remote_digest, image.manifest.digest, result.manifest.digest);
    progress.message("Digest: " + result.remote_digest);
    return result;
}

store::Reference parse_pull_reference(std::string_view text) {
    store::Reference ref = store::parse_reference(text);
    if (ref.digest.empty()) ref = store::with_default_tag(ref);
    if (!ref.digest.empty() && !ref.digest.starts_with("sha256:")) throw Error("only sha256 digests are supported: '" + std::string(text) + "'");
    return ref;
}

// fn(registry) against docker.io's mirror when one is configured (falling back to docker.io
// when it fails), else against the reference's own registry.
template <typename Fn>
auto with_registry(const store::Reference& ref, const RegistryOptions& options, TransferProgress& progress, const Fn& fn) {
    const auto& mirror = options.hosts.mirror;
    if (ref.domain == store::default_domain && mirror) {
        try {
            Registry registry(ref.domain, options, mirror_base(*mirror, options.hosts.insecure));
            return fn(registry);
        } catch (const Error& e) {
            progress.message("mirror " + *mirror + " failed (" + e.message() + "): using docker.io");
        }
    }
    Registry registry(ref.domain, options);
    return fn(registry);
}

} // namespace

PullResult pull(store::Store& store, std::string_view text, const PullOptions& options, TransferProgress& progress) {
    const store::Reference ref = parse_pull_reference(text);
    return with_context("pulling '" + ref.familiar_string() + "'", [&] {
        return with_registry(ref, options.registry, progress,
                             [&](Registry& registry) { return pull_from(registry, store, ref, options, progress); });
    });
}

ResolvedDigest resolve_digest(std::string_view text, const PullOptions& options, TransferProgress& progress) {
    const store::Reference ref = parse_pull_reference(text);
    return with_context("resolving '" + ref.familiar_string() + "'", [&] {
        return with_registry(ref, options.registry, progress, [&](Registry& registry) {
            Repository repository(registry, ref.path);
            HttpClient http;
            ResolvedDigest resolved{ref.string(), "", ""};
            const RemoteImage image = resolve_image(repository, http, ref.digest.empty() ? ref.tag : ref.digest,
                                                    options.platform.value_or(store::host_platform()), resolved.digest);
            resolved.manifest = image.manifest.digest;
            return resolved;
        });
    });
}

} // namespace strata::registry
