#include "store/registry_digests.hpp"

#include "store/gc.hpp"
#include "util/error.hpp"
#include "util/sha256.hpp"

namespace strata::store {

namespace {

// One file per registry digest, a JSON object of repository -> stored manifest digest
// (the same manifest is often in several repositories of a registry).
fs::path hint_file(const Store& store, std::string_view digest) {
    if (!is_sha256_digest(digest)) throw Error("malformed digest '" + std::string(digest) + "'");
    return local_state_dir(store, "registry-digests") / std::string(digest.substr(7));
}

json read_hints(const fs::path& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return json::object();
    json hints = json::parse(read_file(path), nullptr, false);
    return hints.is_object() ? hints : json::object();  // a torn hint is no hint
}

} // namespace

void remember_registry_digest(const Store& store, std::string_view repository, std::string_view digest,
                              std::string_view manifest_digest) {
    const fs::path path = hint_file(store, digest);
    json hints = read_hints(path);
    if (hints.value(std::string(repository), "") == manifest_digest) return;
    hints[std::string(repository)] = manifest_digest;
    write_file_replace(path, hints.dump());
}

std::optional<std::string> registry_digest_manifest(const Store& store, std::string_view repository, std::string_view digest) {
    if (!is_sha256_digest(digest)) return std::nullopt;
    const json hints = read_hints(hint_file(store, digest));
    const auto it = hints.find(std::string(repository));
    if (it == hints.end() || !it->is_string() || !is_sha256_digest(it->get<std::string>())) return std::nullopt;
    return it->get<std::string>();
}

} // namespace strata::store
