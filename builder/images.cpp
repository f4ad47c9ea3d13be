#include "builder/images.hpp"

#include "store/reference.hpp"
#include "util/error.hpp"
#include "util/sha256.hpp"

namespace strata::builder {

PullPolicy parse_pull_policy(std::string_view text) {
    if (text == "missing" || text == "false") return PullPolicy::missing;
    if (text == "always" || text == "true" || text.empty()) return PullPolicy::always;
    if (text == "never") return PullPolicy::never;
    throw Error("invalid --pull value '" + std::string(text) + "': expected missing, always or never");
}

BaseImage BaseImages::resolve(const std::string& reference, const std::string& what) {
    std::promise<BaseImage> promise;
    std::shared_future<BaseImage> result;
    bool mine = false;
    {
        std::lock_guard lock(mutex_);
        auto [it, inserted] = resolved_.try_emplace(reference);
        if (inserted) {
            it->second = promise.get_future().share();
            mine = true;
        }
        result = it->second;
    }
    if (mine) {
        try {
            promise.set_value(find_or_pull(reference, what));
        } catch (...) {
            promise.set_exception(std::current_exception());
        }
    }
    return result.get();
}

namespace {

// Whether index.json names the manifest so (else the reference was its id or a prefix).
bool named_by(const store::Store& store, const store::Descriptor& manifest, const std::string& full_name) {
    for (const auto& entry : store.index_entries(manifest.digest))
        if (entry.reference && store::with_default_tag(*entry.reference).string() == full_name) return true;
    return full_name.find('@') != std::string::npos;  // name@digest: resolve checked the repository
}

} // namespace

// The locked digest instead of the tag: a stored image needs no registry whatever --pull
// says (a digest cannot move), so a no-op rebuild works offline; a missing one is pulled
// by digest. The name stays the tag's, so the image's base annotations read as without a lock.
BaseImage BaseImages::find_or_pull_locked(const std::string& reference, const std::string& what) {
    const LockedImage* locked = lock_->find(reference);
    if (!locked)
        throw Error(what + ": '" + reference + "' is not in lock file '" + lock_->path.string() +
                    "': run `strata lock` again (or build with --no-lock)");
    const std::string pinned = locked->pinned();
    if (const auto local = store_.resolve(pinned)) return {locked->name, *local};
    if (locked->local)
        throw Error(what + ": '" + reference + "' is locked to " + locked->digest +
                    ", an image of this store only, which it no longer holds: run `strata lock` again");
    if (policy_ == PullPolicy::never || !puller_)
        throw Error(what + ": image '" + pinned + "' (locked) is not in the store" + (puller_ ? " (--pull=never)" : " (pulling is off)"));
    return {locked->name, with_context(what + ": pulling '" + pinned + "' (locked)", [&] { return puller_(pinned); })};
}

BaseImage BaseImages::find_or_pull(const std::string& reference, const std::string& what) {
    if (lock_ && !is_sha256_digest(reference) && !store::is_image_id(reference)) return find_or_pull_locked(reference, what);
    // An id or digest prefix names only what is stored; a name is normalised (and pullable).
    const auto local = store_.resolve(reference);
    std::optional<store::Reference> name;
    try {
        name = store::parse_reference(reference);
    } catch (const Error&) {
        if (!local) throw;  // neither a stored id nor a valid name: docker's message
    }
    const std::string full_name = name ? store::with_default_tag(*name).string() : reference;
    const bool pinned = name && !name->digest.empty();
    const bool pull = policy_ != PullPolicy::never && puller_ && name &&
                      (!local || (policy_ == PullPolicy::always && !pinned));
    if (!pull) {
        if (!local) {
            const std::string why = policy_ == PullPolicy::never ? " (--pull=never)" : puller_ ? "" : " (pulling is off)";
            throw Error(what + ": image '" + reference + "' is not in the store" + why);
        }
        return {named_by(store_, *local, full_name) ? full_name : "", *local};
    }
    return {full_name, with_context(what + ": pulling '" + reference + "'", [&] { return puller_(reference); })};
}

} // namespace strata::builder
