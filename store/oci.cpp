// Descriptors and chain ids: the pure data side of the OCI layout.
#include "store/oci.hpp"
#include "store/store.hpp"

#include "util/error.hpp"
#include "util/sha256.hpp"

namespace strata::store {

nlohmann::json to_json(const Descriptor& d) {
    nlohmann::json j = {{"mediaType", d.media_type}, {"digest", d.digest}, {"size", d.size}};
    if (!d.annotations.empty()) j["annotations"] = d.annotations;
    return j;
}

Descriptor descriptor_from_json(const nlohmann::json& j) {
    if (!j.is_object()) throw Error("malformed descriptor: not an object");
    Descriptor d;
    const auto media = j.find("mediaType");
    if (media == j.end() || !media->is_string()) throw Error("malformed descriptor: missing mediaType");
    d.media_type = media->get<std::string>();
    const auto digest = j.find("digest");
    if (digest == j.end() || !digest->is_string() || !is_sha256_digest(digest->get<std::string>()))
        throw Error("malformed descriptor: digest is not sha256:<64 hex digits>");
    d.digest = digest->get<std::string>();
    const auto size = j.find("size");
    if (size == j.end() || !size->is_number_integer() || size->get<std::int64_t>() < 0)
        throw Error("malformed descriptor '" + d.digest + "': size is not a non-negative integer");
    d.size = size->get<std::int64_t>();
    if (const auto ann = j.find("annotations"); ann != j.end() && !ann->is_null()) {
        if (!ann->is_object()) throw Error("malformed descriptor '" + d.digest + "': annotations is not an object");
        for (const auto& [key, value] : ann->items()) {
            if (!value.is_string()) throw Error("malformed descriptor '" + d.digest + "': annotation '" + key + "' is not a string");
            d.annotations[key] = value.get<std::string>();
        }
    }
    return d;
}

std::string next_chain_id(std::string_view parent_chain_id, std::string_view diff_id) {
    if (!is_sha256_digest(diff_id)) throw Error("malformed diff id '" + std::string(diff_id) + "'");
    if (parent_chain_id.empty()) return std::string(diff_id);
    if (!is_sha256_digest(parent_chain_id)) throw Error("malformed chain id '" + std::string(parent_chain_id) + "'");
    Sha256 sha;
    sha.update(parent_chain_id);
    sha.update(" ");
    sha.update(diff_id);
    return sha.digest();
}

std::vector<std::string> chain_ids(const std::vector<std::string>& diff_ids) {
    std::vector<std::string> out;
    out.reserve(diff_ids.size());
    std::string parent;
    for (const auto& diff_id : diff_ids) {
        parent = next_chain_id(parent, diff_id);
        out.push_back(parent);
    }
    return out;
}

} // namespace strata::store
