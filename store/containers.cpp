#include "store/containers.hpp"

#include "store/oci.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

#include <cerrno>
#include <sys/stat.h>

namespace strata::store {

namespace {

// docker's rule for container names: [a-zA-Z0-9][a-zA-Z0-9_.-]+.
void check_name(std::string_view name) {
    const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
    bool ok = name.size() >= 2 && alnum(name.front());
    for (char c : name) ok = ok && (alnum(c) || c == '_' || c == '.' || c == '-');
    if (!ok) throw Error("invalid container name '" + std::string(name) + "': only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
}

fs::path containers_root(const Store& store) { return store.root() / "containers"; }

IdShift id_shift_from_json(const json& j, const fs::path& file) {
    const auto id = [&](const char* key) {
        const auto it = j.is_object() ? j.find(key) : j.end();
        if (it == j.end() || !it->is_number_unsigned() || it->get<std::uint64_t>() > UINT32_MAX)
            throw Error("'" + file.string() + "': userns." + key + " is not an id");
        return it->get<std::uint32_t>();
    };
    return IdShift{id("host_uid"), id("host_gid"), id("size")};
}

ContainerRecord parse_record(std::string_view name, const fs::path& file) {
    const json j = json::parse(read_file(file), nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("image"))
        throw Error("'" + file.string() + "' is not a container record");
    ContainerRecord record;
    record.name = std::string(name);
    record.image = descriptor_from_json(j.at("image"));
    record.config = j.value("config", json::object());
    record.created = j.value("created", "");
    if (const auto it = j.find("userns"); it != j.end()) record.userns = id_shift_from_json(*it, file);
    return record;
}

} // namespace

fs::path container_dir(const Store& store, std::string_view name) {
    check_name(name);
    return containers_root(store) / std::string(name);
}

fs::path create_container(Store& store, const ContainerRecord& record) {
    const fs::path dir = container_dir(store, record.name);
    make_dirs(containers_root(store));
    if (::mkdir(dir.c_str(), 0700) != 0) {
        if (errno == EEXIST)
            throw Error("container name '" + record.name + "' is already in use (strata rm " + record.name + " removes it)");
        throw_errno("mkdir", dir.string());
    }
    make_dirs(dir / "upper");
    make_dirs(dir / "work");
    json j = {{"image", to_json(record.image)}, {"config", record.config}, {"created", record.created}};
    if (record.userns)
        j["userns"] = {{"host_uid", record.userns->uid}, {"host_gid", record.userns->gid}, {"size", record.userns->size}};
    write_file_atomic(dir / "container.json", j.dump(2) + "\n", 0600);
    return dir;
}

std::optional<ContainerRecord> find_container(const Store& store, std::string_view name) {
    const fs::path file = container_dir(store, name) / "container.json";
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) return std::nullopt;
    return parse_record(name, file);
}

std::vector<ContainerRecord> list_containers(const Store& store) {
    std::vector<ContainerRecord> out;
    const fs::path root = containers_root(store);
    struct stat st {};
    if (::stat(root.c_str(), &st) != 0) return out;
    for (const auto& name : sorted_dir_names(root)) {
        const fs::path file = root / name / "container.json";
        if (::stat(file.c_str(), &st) == 0) out.push_back(parse_record(name, file));
    }
    return out;
}

void remove_container(Store& store, std::string_view name) {
    const fs::path dir = container_dir(store, name);
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) throw Error("no container named '" + std::string(name) + "'");
    remove_tree(dir);
}

} // namespace strata::store
