#pragma once
// The step cache. A key is sha256 over a versioned, canonical record of everything that
// decides a step's output (the parent filesystem's chain id, the command, env, sources'
// content digests) and nothing that does not (mtimes, absolute paths, labels). The record
// itself is kept beside the result, so a later `--explain` can diff two of them.
#include "store/store.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace strata::builder {

// Bump when the meaning of a record changes: a key format that has shipped is forever.
inline constexpr int cache_schema_version = 1;

// Record namespaces in the store. "steps": the cache, by key; each record lists the layer
// blob and snapshot it keeps alive under "refs" (store/gc.hpp), and its file's mtime is
// its last use. "last-steps": per Buildfile, stage and step, the record last built there
// (local data for --explain; never a key).
inline constexpr const char* cache_records_namespace = "steps";
inline constexpr const char* last_steps_namespace = "last-steps";
// store::local_state_dir areas: context stat caches, and the file lists of sources for --explain.
inline constexpr const char* context_stat_area = "context-stat";
inline constexpr const char* explain_listings_area = "explain";

struct StepOutput {
    std::optional<store::Descriptor> layer;  // none: the step changed no file
    std::string diff_id;
    std::string chain_id;  // of the filesystem after the step ("" when still empty)
    std::string created;   // when the step actually ran
};

std::string cache_key(const nlohmann::json& step_record);

// A hit only when everything the output needs is still in the store; a record that is
// corrupt or from another version is a miss, never an error. A hit marks the record used.
std::optional<StepOutput> cache_lookup(const store::Store& store, const std::string& key);
void cache_remember(store::Store& store, const std::string& key, const nlohmann::json& step_record,
                    const StepOutput& output);

} // namespace strata::builder
