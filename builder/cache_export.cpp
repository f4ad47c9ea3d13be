// --cache-to / --cache-from: the step cache as an OCI artifact (cache_export.hpp).
#include "builder/cache_export.hpp"

#include "builder/cache.hpp"
#include "store/artifact.hpp"
#include "store/cache_mounts.hpp"
#include "util/error.hpp"
#include "util/sha256.hpp"

#include <map>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace strata::builder {

using json = nlohmann::json;  // as image_state.hpp has it

namespace {

constexpr std::int64_t max_config_bytes = 64 << 20;  // read whole: the records of one build

// ----- flags

bool parse_bool(const std::string& key, const std::string& value) {
    if (value == "true" || value == "1") return true;
    if (value == "false" || value == "0") return false;
    throw Error("'" + key + "' must be true or false, not '" + value + "'");
}

void apply_field(CacheSpec& spec, const std::string& key, const std::string& value, bool for_export, bool& type_given) {
    if (key == "type") {
        if (value == "registry") spec.type = CacheSpec::Type::registry;
        else if (value == "local") spec.type = CacheSpec::Type::local;
        else throw Error("cache type '" + value + "' is not supported: use registry or local");
        type_given = true;
    } else if (key == "ref") {
        spec.ref = value;
    } else if ((key == "dest" && for_export) || (key == "src" && !for_export)) {
        spec.dir = value;
    } else if (key == "tag") {
        spec.tag = value;
    } else if (key == "mode" && for_export) {
        if (value == "min") spec.mode = CacheMode::min;
        else if (value == "max") spec.mode = CacheMode::max;
        else throw Error("mode must be min or max, not '" + value + "'");
    } else if (key == "ignore-error" && for_export) {
        spec.ignore_error = parse_bool(key, value);
    } else if ((key == "image-manifest" || key == "oci-mediatypes") && for_export) {
        // buildx's switches for what strata always writes: an OCI image manifest
        if (!parse_bool(key, value)) throw Error("'" + key + "=false' is not supported: the cache is always an OCI image manifest");
    } else {
        throw Error("unknown key '" + key + "'");
    }
}

void check_complete(const CacheSpec& spec, bool for_export) {
    if (spec.type == CacheSpec::Type::registry) {
        if (spec.ref.empty()) throw Error("type=registry needs ref=REGISTRY/NAME[:TAG]");
        if (!spec.dir.empty()) throw Error(std::string(for_export ? "dest" : "src") + "= is for type=local");
        store::parse_reference(spec.ref);  // a malformed name fails before the build, not after it
    } else {
        if (spec.dir.empty()) throw Error(for_export ? "type=local needs dest=DIR" : "type=local needs src=DIR");
        if (!spec.ref.empty()) throw Error("ref= is for type=registry");
    }
    if (spec.tag.empty()) throw Error("tag= must not be empty");
}

// ----- export

std::set<std::string> cache_mount_ids(const json& step_record) {
    std::set<std::string> ids;
    const auto mounts = step_record.find("mounts");
    if (mounts == step_record.end() || !mounts->is_array()) return ids;
    for (const auto& m : *mounts)
        if (m.value("type", "") == "cache" && m.contains("id") && m["id"].is_string()) ids.insert(m["id"].get<std::string>());
    return ids;
}

json output_json(const StepOutput& output) {
    json out = {{"chain_id", output.chain_id}, {"created", output.created}, {"layer", nullptr}};
    if (output.layer) {
        out["layer"] = store::to_json(*output.layer);
        out["diff_id"] = output.diff_id;
    }
    return out;
}

// The entries the mode exports, each key once, in key order (the artifact is deterministic).
std::map<std::string, const CacheEntry*> chosen_entries(const BuildResult& build, CacheMode mode) {
    std::map<std::string, const CacheEntry*> chosen;
    for (const auto& entry : build.cache_steps)
        if (mode == CacheMode::max || build.image_stages.count(entry.stage)) chosen.emplace(entry.key, &entry);
    return chosen;
}

struct LayerList {
    std::vector<store::Descriptor> layers;
    std::set<std::string> seen;
    void add(const store::Descriptor& d) {
        if (seen.insert(d.digest).second) layers.push_back(d);
    }
};

json record_json(const CacheEntry& entry, LayerList& layers) {
    json record = {{"key", entry.key}, {"step", entry.record}, {"output", output_json(entry.output)}};
    if (!entry.output.layer) return record;
    json chain = json::array();
    for (const auto& link : entry.chain) {
        chain.push_back({{"layer", store::to_json(link.descriptor)}, {"diff_id", link.diff_id}});
        layers.add(link.descriptor);
    }
    record["chain"] = std::move(chain);
    return record;
}

// Instance 0 of a cache mount as a layer blob (the files a later build would find there).
std::optional<json> export_mount(store::Store& store, const std::string& id, LayerList& layers) {
    const store::CacheMount mount = store::acquire_cache_mount(store, id, store::CacheSharing::shared);
    if (fs::is_empty(mount.path())) return std::nullopt;
    struct stat st {};
    if (::lstat(mount.path().c_str(), &st) != 0) throw_errno("stat", mount.path().string());
    store::Layer layer = store.write_layer(mount.path());
    layer.descriptor.annotations[cache_mount_annotation] = id;
    layers.add(layer.descriptor);
    return json{{"id", id}, {"layer", store::to_json(layer.descriptor)}, {"diff_id", layer.diff_id},
                {"mode", st.st_mode & 07777}, {"uid", st.st_uid}, {"gid", st.st_gid}};
}

// ----- import

const json& member(const json& object, const char* name) {
    const auto it = object.find(name);
    if (it == object.end()) throw Error(std::string("it has no '") + name + "'");
    return *it;
}

std::string digest_member(const json& object, const char* name) {
    const json& value = member(object, name);
    if (!value.is_string() || !is_sha256_digest(value.get<std::string>())) throw Error(std::string("'") + name + "' is not a digest");
    return value.get<std::string>();
}

// A layer the record names must be one of the artifact's (so it was fetched and verified).
store::Descriptor known_layer(const json& descriptor, const std::map<std::string, store::Descriptor>& layers) {
    const store::Descriptor d = store::descriptor_from_json(descriptor);
    const auto it = layers.find(d.digest);
    if (it == layers.end() || it->second.size != d.size) throw Error("layer " + d.digest + " is not one of the artifact's");
    return d;
}

// The record as the local cache keeps it, after checking that it is what its key says and
// that its chain gives its chain id. Throws an Error saying what is wrong.
json checked_record(const json& item, const std::map<std::string, store::Descriptor>& layers, std::string& key) {
    if (!item.is_object()) throw Error("a record is not an object");
    key = member(item, "key").get<std::string>();
    const json& step = member(item, "step");
    if (!step.is_object() || cache_key(step) != key) throw Error("record " + key + ": its step does not hash to its key");
    const json& output = member(item, "output");
    json out = {{"chain_id", output.at("chain_id").get<std::string>()}, {"created", output.at("created").get<std::string>()},
                {"layer", nullptr}};
    // Snapshots join the refs once the first hit unpacks them (cache.hpp).
    json refs = {{"blobs", json::array()}, {"snapshots", json::array()}};
    json record = {{"v", cache_schema_version}, {"step", step}};
    if (!output.at("layer").is_null()) {
        const store::Descriptor layer = known_layer(output["layer"], layers);
        const std::string diff_id = digest_member(output, "diff_id");
        const json& chain = member(item, "chain");
        if (!chain.is_array() || chain.empty()) throw Error("record " + key + ": its chain is empty");
        std::vector<std::string> diff_ids;
        json links = json::array();
        for (const auto& link : chain) {
            const store::Descriptor d = known_layer(member(link, "layer"), layers);
            diff_ids.push_back(digest_member(link, "diff_id"));
            links.push_back({{"layer", store::to_json(d)}, {"diff_id", diff_ids.back()}});
            refs["blobs"].push_back(d.digest);
        }
        const auto ids = store::chain_ids(diff_ids);
        if (ids.back() != out["chain_id"] || diff_ids.back() != diff_id || links.back()["layer"]["digest"] != layer.digest)
            throw Error("record " + key + ": its chain does not end in its output");
        out["layer"] = store::to_json(layer);
        out["diff_id"] = diff_id;
        record["chain"] = std::move(links);
    } else if (const std::string chain_id = out["chain_id"]; !chain_id.empty() && !is_sha256_digest(chain_id)) {
        throw Error("record " + key + ": malformed chain id");
    }
    record["output"] = std::move(out);
    record["refs"] = std::move(refs);
    return record;
}

// A local record whose output is still in the store wins over an imported one.
bool usable_locally(const store::Store& store, const std::string& key) {
    try {
        const auto record = store.get_record(cache_records_namespace, key);
        if (!record || !record->is_object() || record->value("v", 0) != cache_schema_version) return false;
        const json& layer = record->at("output").at("layer");
        return layer.is_null() || store.has_blob(store::descriptor_from_json(layer).digest);
    } catch (const std::exception&) {
        return false;  // unreadable: replaced
    }
}

// Restores a cache mount into its instance 0 when that is empty: unpacked (hostile names
// refused) into staging, then renamed over the empty directory in one step.
bool import_mount(store::Store& store, const json& item, const std::map<std::string, store::Descriptor>& layers) {
    const std::string id = member(item, "id").get<std::string>();
    const store::Descriptor layer = known_layer(member(item, "layer"), layers);
    const std::string diff_id = digest_member(item, "diff_id");
    const store::CacheDirAttributes attributes{item.at("mode").get<unsigned>() & 07777, item.at("uid").get<unsigned>(),
                                               item.at("gid").get<unsigned>()};
    return with_context("cache mount '" + id + "'", [&] {
        const store::CacheMount mount = store::acquire_cache_mount(store, id, store::CacheSharing::locked, attributes);
        if (!fs::is_empty(mount.path())) return false;  // never over what this machine has
        TempDir staging = store.new_snapshot_staging();
        if (store::unpack_layer(store.blob_path(layer.digest), layer.media_type, staging.path()) != diff_id)
            throw Error("its tar is not the diff id the cache names");
        if (::chown(staging.path().c_str(), attributes.uid, attributes.gid) != 0) throw_errno("chown", staging.path().string());
        if (::chmod(staging.path().c_str(), attributes.mode) != 0) throw_errno("chmod", staging.path().string());
        store.sync();
        // rename(2) replaces an empty directory atomically: users see nothing or all of it.
        if (::rename(staging.path().c_str(), mount.path().c_str()) != 0) throw_errno("rename", mount.path().string());
        staging.release();
        return true;
    });
}

} // namespace

CacheSpec parse_cache_spec(std::string_view text, bool for_export) {
    const std::string flag = for_export ? "--cache-to" : "--cache-from";
    return with_context(flag + " '" + std::string(text) + "'", [&] {
        CacheSpec spec;
        spec.text = std::string(text);
        if (text.empty()) throw Error("it is empty");
        if (text.find('=') == std::string_view::npos) {
            spec.ref = std::string(text);  // buildx: a bare name is a registry ref
        } else {
            bool type_given = false;
            std::size_t start = 0;
            while (start <= text.size()) {
                const std::size_t end = std::min(text.find(',', start), text.size());
                const std::string_view field = text.substr(start, end - start);
                const std::size_t eq = field.find('=');
                if (eq == std::string_view::npos || eq == 0) throw Error("expected KEY=VALUE, got '" + std::string(field) + "'");
                apply_field(spec, std::string(field.substr(0, eq)), std::string(field.substr(eq + 1)), for_export, type_given);
                start = end + 1;
            }
            if (!type_given && spec.ref.empty()) throw Error("give type=registry,ref=... or type=local," +
                                                             std::string(for_export ? "dest" : "src") + "=...");
        }
        check_complete(spec, for_export);
        return spec;
    });
}

std::string describe(const CacheSpec& spec) {
    return spec.type == CacheSpec::Type::registry ? "registry " + spec.ref : "local " + spec.dir.string();
}

CacheExportSummary write_cache_artifact(store::Store& store, const BuildResult& build, CacheMode mode) {
    CacheExportSummary summary;
    LayerList layers;
    json records = json::array();
    std::set<std::string> mount_ids;
    for (const auto& [key, entry] : chosen_entries(build, mode)) {
        records.push_back(record_json(*entry, layers));
        if (mode == CacheMode::max) mount_ids.merge(cache_mount_ids(entry->record));
    }
    json mounts = json::array();
    for (const auto& id : mount_ids) {
        try {
            if (auto mount = export_mount(store, id, layers)) mounts.push_back(std::move(*mount));
        } catch (const Error& e) {
            summary.warnings.push_back("cache mount '" + id + "' not exported: " + e.message());
        }
    }
    summary.records = records.size();
    summary.mounts = mounts.size();
    summary.layers = layers.layers.size();
    const json config = {{"v", cache_artifact_version}, {"records", std::move(records)}, {"mounts", std::move(mounts)}};
    const store::Descriptor config_blob = store.put_blob(config.dump(), cache_config_media_type);
    summary.manifest = store::write_artifact(store, cache_artifact_type, config_blob, layers.layers);
    return summary;
}

CacheImportSummary import_cache_artifact(store::Store& store, const store::Descriptor& manifest) {
    const store::Artifact artifact = store::read_artifact(store, manifest);
    if (artifact.artifact_type != cache_artifact_type && artifact.config.media_type != cache_config_media_type)
        throw Error("manifest " + manifest.digest + " is not a strata build cache (artifactType '" + artifact.artifact_type + "')");
    if (artifact.config.size > max_config_bytes) throw Error("the cache's config is too large");
    const json config = json::parse(store.read_blob(artifact.config.digest), nullptr, false);
    if (config.is_discarded() || !config.is_object()) throw Error("the cache's config is not a JSON object");
    if (config.value("v", 0) != cache_artifact_version)
        throw Error("the cache's format version is not " + std::to_string(cache_artifact_version) + " (another strata wrote it?)");
    std::map<std::string, store::Descriptor> layers;
    for (const auto& layer : artifact.layers) {
        if (!store.has_blob(layer.digest)) throw Error("layer " + layer.digest + " of the cache is not in the store");
        layers.emplace(layer.digest, layer);
    }
    CacheImportSummary summary;
    for (const auto& item : config.value("records", json::array())) {
        std::string key;
        try {
            const json record = checked_record(item, layers, key);
            if (usable_locally(store, key)) {
                ++summary.kept;
                continue;
            }
            store.put_record(cache_records_namespace, key, record);
            ++summary.records;
        } catch (const std::exception& e) {  // Error or a JSON member of the wrong type
            summary.warnings.push_back("record " + (key.empty() ? std::string("?") : key) + " skipped: " + e.what());
        }
    }
    for (const auto& item : config.value("mounts", json::array())) {
        try {
            if (import_mount(store, item, layers)) ++summary.mounts;
        } catch (const std::exception& e) {
            summary.warnings.push_back(std::string("a cache mount was not restored: ") + e.what());
        }
    }
    return summary;
}

} // namespace strata::builder
