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

struct StepOutput {
    std::optional<store::Descriptor> layer;  // none: the step changed no file
    std::string diff_id;
    std::string chain_id;  // of the filesystem after the step ("" when still empty)
    std::string created;   // when the step actually ran
};

std::string cache_key(const nlohmann::json& step_record);

// A hit only when everything the output needs is still in the store.
std::optional<StepOutput> cache_lookup(const store::Store& store, const std::string& key);
void cache_remember(store::Store& store, const std::string& key, const nlohmann::json& step_record,
                    const StepOutput& output);

} // namespace strata::builder
