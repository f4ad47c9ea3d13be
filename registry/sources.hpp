#pragma once
// Where this machine has seen each blob ("reg:5000/team/app"), so that a push to another
// repository of the same registry can mount the blob instead of uploading it. Kept in
// the store's local state (<root>/local/registry-sources/<hex>): a hint, never a GC root;
// a lost or stale entry costs an upload, nothing more.
#include "store/store.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace strata::registry {

void remember_source(const store::Store& store, std::string_view digest, const std::string& repository);
std::vector<std::string> known_sources(const store::Store& store, std::string_view digest);

// A repository of `domain` other than `path` that holds the blob, to mount it from.
std::optional<std::string> mount_source(const store::Store& store, std::string_view digest, std::string_view domain,
                                        std::string_view path);

} // namespace strata::registry
