#pragma once
// The images a build stands on (FROM, COPY --from=IMAGE, RUN --mount from=IMAGE): found
// in the store or pulled, by docker's --pull policy, each reference resolved once per
// build so every stage that names it sees the same image.
//
// Pulling is given as a function (the cli passes the registry client) so the builder
// needs no network code of its own and its tests can count pulls.
#include "builder/lock.hpp"
#include "store/store.hpp"

#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace strata::builder {

enum class PullPolicy {
    missing,  // pull only what the store lacks (docker's default)
    always,   // pull every tag again (a digest reference only when missing)
    never,    // the store only
};

// "missing", "always", "never"; docker's "true"/"false" (= always / missing) and "" (the
// bare --pull flag: always). Throws for anything else.
PullPolicy parse_pull_policy(std::string_view text);

// Pulls `reference` into the store; returns the stored manifest (or index) descriptor.
using ImagePuller = std::function<store::Descriptor(const std::string& reference)>;

struct BaseImage {
    std::string name;           // the normalised reference ("docker.io/library/alpine:3")
    store::Descriptor manifest;  // as stored (an index stands for its platform's image)
};

class BaseImages {
public:
    // `lock`: strata.lock's digests stand for the tags it names (none: tags resolve as --pull says).
    BaseImages(store::Store& store, PullPolicy policy, ImagePuller puller, const LockFile* lock = nullptr)
        : store_(store), policy_(policy), puller_(std::move(puller)), lock_(lock) {}

    // The image `reference` names, pulled when the policy says so; `what` names the
    // instruction for errors ("FROM alpine"). Thread-safe: stages resolve concurrently and
    // a reference is pulled once, the others waiting for it.
    BaseImage resolve(const std::string& reference, const std::string& what);

private:
    BaseImage find_or_pull(const std::string& reference, const std::string& what);
    BaseImage find_or_pull_locked(const std::string& reference, const std::string& what);

    store::Store& store_;
    PullPolicy policy_;
    ImagePuller puller_;
    const LockFile* lock_;
    std::mutex mutex_;
    std::map<std::string, std::shared_future<BaseImage>> resolved_;
};

} // namespace strata::builder
