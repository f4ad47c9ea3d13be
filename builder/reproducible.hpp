#pragma once
// `strata build --check-reproducible`: the same build twice, each in a fresh temporary
// store with the same SOURCE_DATE_EPOCH, and where the two images first differ.
#include "builder/builder.hpp"

#include <ostream>
#include <string>

namespace strata::builder {

// The epoch both builds use when the options carry none (no --source-date-epoch, no
// SOURCE_DATE_EPOCH): 0, so every time a step writes is clamped and only what a step
// really does differently shows. A build's base images keep their own times.
inline constexpr long long default_check_epoch = 0;

struct ReproducibilityReport {
    std::string first_digest;   // manifest digest of each build
    std::string second_digest;
    // Empty when the digests agree; else where they first differ:
    // "layer 2 of 3 (RUN date > f): f (content)" or "config: created (... vs ...)".
    std::string difference;
    bool reproducible() const { return first_digest == second_digest; }
};

// Builds `options` twice, in two fresh stores below store's scratch directory, each
// seeded with the images the Buildfile reads from `store` (FROM, COPY --from, RUN
// --mount from=); the second build runs its stages one at a time. Nothing is written to
// `store` itself and nothing is tagged. Progress of both builds goes to `progress`.
ReproducibilityReport check_reproducible(store::Store& store, Executor& executor, BuildOptions options,
                                         std::ostream& progress);

} // namespace strata::builder
