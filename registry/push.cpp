// strata push: every blob the repository lacks (mounted from a sibling repository that
// has it, else uploaded), in parallel; the manifest last, so the tag never names an
// image whose blobs are not all there.
#include "registry/registry.hpp"

#include "registry/sources.hpp"
#include "registry/transfer.hpp"
#include "store/artifact.hpp"
#include "util/error.hpp"

namespace strata::registry {

namespace {

store::Reference destination_of(std::string_view image, std::string_view destination) {
    const std::string_view text = destination.empty() ? image : destination;
    if (destination.empty() && (store::is_image_id(text) || text.starts_with("sha256:")))
        throw Error("pushing an image by its id needs a destination: strata push IMAGE REGISTRY/NAME[:TAG]");
    store::Reference ref = store::with_default_tag(store::parse_reference(text));
    if (!ref.digest.empty()) throw Error("cannot push to a digest reference '" + std::string(text) + "': give a tag");
    return ref;
}

std::string upload_status(Repository::Upload upload, const std::optional<std::string>& mounted_from) {
    switch (upload) {
    case Repository::Upload::exists: return "Layer already exists";
    case Repository::Upload::mounted: return "Mounted from " + mounted_from.value_or("");
    case Repository::Upload::uploaded: break;
    }
    return "Pushed";
}

// The blobs, then the manifest under dest's tag: an image's or an artifact's alike.
PushResult push_manifest(store::Store& store, const store::Descriptor& manifest, const std::vector<store::Descriptor>& blobs,
                         const store::Reference& dest, const PushOptions& options, TransferProgress& progress) {
    return with_context("pushing '" + dest.familiar_string() + "'", [&] {
        const std::string bytes = store.read_blob(manifest.digest);  // verified against its digest

        Registry registry(dest.domain, options.registry);
        Repository repository(registry, dest.path);
        progress.message("The push refers to repository [" + dest.name() + "]");
        for (const auto& blob : blobs) progress.status(blob.digest, "Preparing");
        run_transfers(blobs.size(), options.jobs, [&](HttpClient& http, std::size_t i) {
            const auto from = mount_source(store, blobs[i].digest, dest.domain, dest.path);
            const auto upload = repository.push_blob(http, store, blobs[i], from, options.chunk_size, progress);
            progress.status(blobs[i].digest, upload_status(upload, from));
        });
        HttpClient http;
        PushResult result{dest.string(), repository.put_manifest(http, dest.tag, bytes, store::media::manifest),
                          static_cast<std::int64_t>(bytes.size())};
        for (const auto& blob : blobs) remember_source(store, blob.digest, dest.domain + "/" + dest.path);
        progress.message(dest.tag + ": digest: " + result.digest + " size: " + std::to_string(result.size));
        return result;
    });
}

} // namespace

PushResult push(store::Store& store, std::string_view image, std::string_view destination, const PushOptions& options,
                TransferProgress& progress) {
    const auto manifest = store.resolve(image);
    if (!manifest) throw Error("no such image '" + std::string(image) + "'");
    const store::Reference dest = destination_of(image, destination);
    const store::Image loaded = with_context("pushing '" + dest.familiar_string() + "'", [&] { return store.load_image(*manifest); });
    std::vector<store::Descriptor> blobs = loaded.layers();
    blobs.push_back(store::descriptor_from_json(loaded.manifest["config"]));
    return push_manifest(store, *manifest, blobs, dest, options, progress);
}

PushResult push_artifact(store::Store& store, const store::Descriptor& manifest, std::string_view destination,
                         const PushOptions& options, TransferProgress& progress) {
    const store::Reference dest = destination_of(destination, destination);
    return push_manifest(store, manifest, store::read_artifact(store, manifest).blobs(), dest, options, progress);
}

} // namespace strata::registry
