#pragma once
// Which stored manifest a registry's digest became. A pull stores a docker schema 2 image
// under an OCI manifest of its own, and an index as its platform's manifest, so the digest
// the registry gave ("reg/app@sha256:<index>") is not a stored one; this hint lets
// `name@digest` (a locked build's base, `strata run name@digest`) find the image offline.
// Kept in the store's local state (<root>/local/registry-digests/<hex>): never a GC root,
// and only an image still listed in index.json counts; a lost hint costs a pull.
#include "store/store.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace strata::store {

// `repository`: the full name without tag ("127.0.0.1:5000/team/app").
void remember_registry_digest(const Store& store, std::string_view repository, std::string_view digest,
                              std::string_view manifest_digest);
// The stored manifest digest `repository@digest` became when it was pulled, if recorded.
std::optional<std::string> registry_digest_manifest(const Store& store, std::string_view repository, std::string_view digest);

} // namespace strata::store
