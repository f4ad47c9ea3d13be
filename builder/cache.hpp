#pragma once
// The step cache. A key is sha256 over a versioned, canonical record of everything that
// decides a step's output (the parent filesystem's chain id, the command, env, sources'
// content digests) and nothing that does not (mtimes, absolute paths, labels). The record
// itself is kept beside the result, so a later `--explain` can diff two of them.
#include "store/store.hpp"

#include <nlohmann/json.hpp>

#include <mutex>
#include <optional>
#include <string>
#include <vector>

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
// An imported record (cache_export.hpp) also lists its layer chain: a missing snapshot is
// then unpacked from the chain's blobs, so a fresh store needs no snapshot to hit.
std::optional<StepOutput> cache_lookup(store::Store& store, const std::string& key);
void cache_remember(store::Store& store, const std::string& key, const nlohmann::json& step_record,
                    const StepOutput& output);

// One step of a build as the cache saw it, hit or run, for --cache-to: its key and keyed
// record, its output, and the layers of the filesystem after it (bottom first).
struct CacheEntry {
    std::string key;
    nlohmann::json record;
    StepOutput output;
    std::vector<store::Layer> chain;
    int stage = 0;  // the stage's index in the DAG
};

// The entries of a build, filled by stages on several threads.
class UsedSteps {
public:
    void add(CacheEntry entry) {
        std::lock_guard lock(mutex_);
        entries_.push_back(std::move(entry));
    }
    std::vector<CacheEntry> take() {
        std::lock_guard lock(mutex_);
        return std::move(entries_);
    }

private:
    std::mutex mutex_;
    std::vector<CacheEntry> entries_;
};

} // namespace strata::builder
