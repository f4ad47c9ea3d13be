// Small JSON records (the build cache): <root>/records/<namespace>/<key>.json, written atomically.
#include "store/store.hpp"

#include "util/error.hpp"

#include <cerrno>

namespace strata::store {

namespace {

// A namespace or key becomes one path component: it must not name a directory or escape.
void check_record_name(std::string_view what, std::string_view name) {
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos ||
        name.find('\0') != std::string_view::npos)
        throw Error("invalid record " + std::string(what) + " '" + std::string(name) + "'");
}

} // namespace

std::optional<json> Store::get_record(std::string_view ns, std::string_view key) const {
    check_record_name("namespace", ns);
    check_record_name("key", key);
    const fs::path path = root_ / "records" / std::string(ns) / (std::string(key) + ".json");
    std::string bytes;
    try {
        bytes = read_file(path);
    } catch (const SysError& e) {
        if (e.error_code() == ENOENT) return std::nullopt;
        throw;
    }
    json record = json::parse(bytes, nullptr, false);
    if (record.is_discarded()) throw Error("record '" + path.string() + "' is not valid JSON");
    return record;
}

void Store::put_record(std::string_view ns, std::string_view key, const json& record) {
    check_record_name("namespace", ns);
    check_record_name("key", key);
    const fs::path dir = root_ / "records" / std::string(ns);
    make_dirs(dir);
    // Not fsynced: a record lost or torn by a crash reads as a miss (get_record's callers
    // treat invalid JSON so), and what it names was made durable before it was written.
    write_file_replace(dir / (std::string(key) + ".json"), record.dump());
}

} // namespace strata::store
