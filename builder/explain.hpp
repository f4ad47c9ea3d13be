#pragma once
// `build --explain`: why a step missed the cache, as the first input that differs from the
// last build of the same step ("file src/x.c changed", "ARG/env V changed (was 1, now 2)",
// "base image moved", ...).
//
// The same step is the same Buildfile (absolute path, or "<stdin>"), stage and step
// number. For each, the store keeps the record last built there (namespace "last-steps",
// small JSON: key, step record, output chain id, hit or miss) and, per source, the file
// list behind its digest (<root>/local/explain/<step>.<n>, written only when the digest
// changes, so a no-op rebuild writes nothing). A 20,000-file context thus costs one file
// list per step that copies it, never a list per cache record.
#include "builder/context_hashes.hpp"
#include "store/store.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace strata::builder {

struct StepIdentity {
    std::string buildfile;  // absolute path, or "<stdin>"
    std::string stage;      // stage name or "stage-N"
    int stage_index = 0;
    std::size_t number = 0;  // 1 is the FROM
    std::string key() const;  // the record name in "last-steps"
    StepIdentity with_number(std::size_t n) const {
        StepIdentity other = *this;
        other.number = n;
        return other;
    }
};

struct LastStep {
    std::string key;
    nlohmann::json record;
    std::string chain_id;  // of the filesystem after the step
    bool added_layer = false;
    bool hit = false;
    std::string text;  // the instruction as written
};

// The last build of a step; nullopt when there was none (or its record is unreadable).
std::optional<LastStep> last_step(const store::Store& store, const StepIdentity& id);

// Remembers this build of the step unless the last one was the same (key and output), with
// the file list of each source whose digest `hashes` computed. Never throws: it only feeds
// later explanations.
void remember_step(store::Store& store, const StepIdentity& id, const std::optional<LastStep>& last,
                   const LastStep& now, ContextHashes& hashes);

struct ExplainInput {
    const store::Store& store;
    StepIdentity id;
    const nlohmann::json& record;  // this build's step record
    const std::string& key;
    const std::optional<LastStep>& last;
    ContextHashes& hashes;
    bool no_cache = false;
    std::string base;  // what FROM names, for "base image moved"
};

// The reason a step missed, e.g. "file src/x.c changed".
std::string explain_miss(const ExplainInput& in);

// Exposed for tests: the first difference between two file lists of one source.
std::string describe_listing_change(const std::vector<ListingEntry>& before, const std::vector<ListingEntry>& now);

} // namespace strata::builder
