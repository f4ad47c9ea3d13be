#include "builder/cache.hpp"

#include "util/error.hpp"
#include "util/sha256.hpp"

namespace strata::builder {

namespace {
constexpr const char* records_namespace = "steps";
}

std::string cache_key(const nlohmann::json& step_record) {
    nlohmann::json versioned = step_record;
    versioned["v"] = cache_schema_version;
    return sha256_hex(versioned.dump());
}

std::optional<StepOutput> cache_lookup(const store::Store& store, const std::string& key) {
    const auto record = store.get_record(records_namespace, key);
    if (!record || !record->contains("output")) return std::nullopt;
    try {
        const auto& out = (*record)["output"];
        StepOutput result;
        result.chain_id = out.at("chain_id").get<std::string>();
        result.created = out.at("created").get<std::string>();
        if (out.contains("layer") && !out["layer"].is_null()) {
            result.layer = store::descriptor_from_json(out["layer"]);
            result.diff_id = out.at("diff_id").get<std::string>();
            if (!store.has_blob(result.layer->digest) || !store.has_snapshot(result.chain_id)) return std::nullopt;
        }
        return result;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;  // a record from an incompatible version is a miss, not an error
    } catch (const Error&) {
        return std::nullopt;
    }
}

void cache_remember(store::Store& store, const std::string& key, const nlohmann::json& step_record,
                    const StepOutput& output) {
    nlohmann::json out = {{"chain_id", output.chain_id}, {"created", output.created}};
    if (output.layer) {
        out["layer"] = store::to_json(*output.layer);
        out["diff_id"] = output.diff_id;
    } else {
        out["layer"] = nullptr;
    }
    store.put_record(records_namespace, key, {{"v", cache_schema_version}, {"step", step_record}, {"output", out}});
}

} // namespace strata::builder
