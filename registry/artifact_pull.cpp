// Pulling an OCI artifact (a build cache): one manifest, its blobs verified into the
// store, nothing tagged. Images go through pull.cpp, which chooses a platform and converts
// docker's types; an artifact's blobs are kept exactly as they are.
#include "registry/registry.hpp"

#include "registry/sources.hpp"
#include "registry/transfer.hpp"
#include "store/artifact.hpp"
#include "util/error.hpp"

namespace strata::registry {

store::Descriptor pull_artifact(store::Store& store, std::string_view text, const PullOptions& options,
                                TransferProgress& progress) {
    store::Reference ref = store::parse_reference(text);
    if (ref.digest.empty()) ref = store::with_default_tag(ref);
    return with_context("pulling '" + ref.familiar_string() + "'", [&] {
        Registry registry(ref.domain, options.registry);
        Repository repository(registry, ref.path);
        HttpClient http;
        const FetchedManifest fetched = repository.get_manifest(http, ref.digest.empty() ? ref.tag : ref.digest);
        if (fetched.media_type != store::media::manifest)
            throw Error("manifest " + fetched.digest + " has the media type '" + fetched.media_type + "', not an OCI image manifest's");
        const store::Artifact artifact =
            store::parse_artifact(fetched.bytes, {fetched.media_type, fetched.digest, static_cast<std::int64_t>(fetched.bytes.size()), {}});
        std::vector<store::Descriptor> missing;
        for (const auto& blob : artifact.blobs()) {
            if (store.has_blob(blob.digest)) progress.status(blob.digest, "Already exists");
            else missing.push_back(blob);
        }
        run_transfers(missing.size(), options.jobs, [&](HttpClient& worker, std::size_t i) {
            repository.fetch_blob(worker, store, missing[i], progress);
            progress.status(missing[i].digest, "Pull complete");
        });
        for (const auto& blob : artifact.blobs()) remember_source(store, blob.digest, ref.domain + "/" + ref.path);
        const store::Descriptor stored = store.put_blob(fetched.bytes, store::media::manifest);
        if (stored.digest != fetched.digest) throw Error("manifest " + fetched.digest + " changed on its way to the store");
        progress.message("Digest: " + stored.digest);
        return stored;
    });
}

} // namespace strata::registry
