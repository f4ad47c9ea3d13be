#include "builder/cache.hpp"

#include "store/gc.hpp"
#include "util/error.hpp"
#include "util/sha256.hpp"

namespace strata::builder {

namespace {

// An imported record's "chain": [{"layer": descriptor, "diff_id"}...], bottom first, ending
// with the step's own layer. Unpacks the snapshots it lacks (each verified against its blob
// digest and diff id); false when it cannot, which is a miss. Then the record keeps those
// snapshots alive too (it could not list them before they existed: fsck would object).
bool materialise_chain(store::Store& store, const std::string& key, const nlohmann::json& record, const std::string& chain_id) {
    const auto chain = record.find("chain");
    if (chain == record.end() || !chain->is_array() || chain->empty()) return false;
    store::Image image;
    image.manifest = {{"layers", nlohmann::json::array()}};
    image.config = {{"rootfs", {{"type", "layers"}, {"diff_ids", nlohmann::json::array()}}}};
    for (const auto& link : *chain) {
        const store::Descriptor layer = store::descriptor_from_json(link.at("layer"));
        if (!store.has_blob(layer.digest)) return false;
        image.manifest["layers"].push_back(store::to_json(layer));
        image.config["rootfs"]["diff_ids"].push_back(link.at("diff_id").get<std::string>());
    }
    const auto chain_ids = store::chain_ids(image.diff_ids());
    if (chain_ids.back() != chain_id) return false;
    store.ensure_snapshots(image);
    nlohmann::json updated = record;
    updated["refs"]["snapshots"] = chain_ids;
    store.put_record(cache_records_namespace, key, updated);
    return true;
}

std::optional<StepOutput> output_of(store::Store& store, const std::string& key, const nlohmann::json& record) {
    if (!record.is_object() || record.value("v", 0) != cache_schema_version || !record.contains("output"))
        return std::nullopt;
    const auto& out = record["output"];
    StepOutput result;
    result.chain_id = out.at("chain_id").get<std::string>();
    result.created = out.at("created").get<std::string>();
    if (!result.chain_id.empty() && !is_sha256_digest(result.chain_id)) return std::nullopt;
    if (out.contains("layer") && !out["layer"].is_null()) {
        result.layer = store::descriptor_from_json(out["layer"]);
        result.diff_id = out.at("diff_id").get<std::string>();
        if (!store.has_blob(result.layer->digest)) return std::nullopt;
        if (!store.has_snapshot(result.chain_id) && !materialise_chain(store, key, record, result.chain_id)) return std::nullopt;
    }
    return result;
}

} // namespace

std::string cache_key(const nlohmann::json& step_record) {
    nlohmann::json versioned = step_record;
    versioned["v"] = cache_schema_version;
    return sha256_hex(versioned.dump());
}

std::optional<StepOutput> cache_lookup(store::Store& store, const std::string& key) {
    std::optional<StepOutput> output;
    try {
        const auto record = store.get_record(cache_records_namespace, key);
        if (record) output = output_of(store, key, *record);
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;  // a record from an incompatible version is a miss, not an error
    } catch (const Error&) {
        return std::nullopt;  // not JSON, a malformed digest, or a chain whose blobs are damaged
    }
    if (output) {
        try {
            store::mark_record_used(store, cache_records_namespace, key);
        } catch (const Error&) {
            // last-used is bookkeeping for prune; a hit stays a hit
        }
    }
    return output;
}

void cache_remember(store::Store& store, const std::string& key, const nlohmann::json& step_record,
                    const StepOutput& output) {
    nlohmann::json out = {{"chain_id", output.chain_id}, {"created", output.created}};
    nlohmann::json refs = {{"blobs", nlohmann::json::array()}, {"snapshots", nlohmann::json::array()}};
    if (output.layer) {
        out["layer"] = store::to_json(*output.layer);
        out["diff_id"] = output.diff_id;
        refs["blobs"].push_back(output.layer->digest);
        refs["snapshots"].push_back(output.chain_id);
    } else {
        out["layer"] = nullptr;
    }
    store.put_record(cache_records_namespace, key,
                     {{"v", cache_schema_version}, {"step", step_record}, {"output", out}, {"refs", refs}});
}

} // namespace strata::builder
