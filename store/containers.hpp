#pragma once
// Containers kept after they ran (strata run --name): <root>/containers/<name>/ holds the
// container's writable layer (upper/, in overlay format, with work/ beside it) and
// container.json: the image it stands on and the config it ran with, for strata commit.
// The image stays a garbage-collection root while the container exists.
#include "store/store.hpp"

#include <optional>
#include <string>
#include <vector>

namespace strata::store {

struct ContainerRecord {
    std::string name;
    Descriptor image;     // the manifest it was created from
    json config;          // the image config's "config" as the container ran (Cmd, Env, ...)
    std::string created;  // RFC 3339
    // --userns: its writable layer holds host ids, shifted back by strata commit.
    std::optional<IdShift> userns;
};

// Makes <root>/containers/<name>/ with upper/ and work/ and writes container.json; throws
// when the name is taken or is not a name docker accepts. Returns the container's dir.
fs::path create_container(Store& store, const ContainerRecord& record);
std::optional<ContainerRecord> find_container(const Store& store, std::string_view name);
std::vector<ContainerRecord> list_containers(const Store& store);
fs::path container_dir(const Store& store, std::string_view name);
// Removes the container and its writable layer; throws when there is none of that name.
void remove_container(Store& store, std::string_view name);

} // namespace strata::store
