#include "registry/sources.hpp"

#include "store/gc.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

#include <algorithm>
#include <sstream>

namespace strata::registry {

namespace {

constexpr std::size_t max_sources = 16;  // the newest are kept

fs::path source_file(const store::Store& store, std::string_view digest) {
    if (!is_sha256_digest(digest)) throw Error("malformed digest '" + std::string(digest) + "'");
    return store::local_state_dir(store, "registry-sources") / std::string(digest.substr(7));
}

} // namespace

std::vector<std::string> known_sources(const store::Store& store, std::string_view digest) {
    const fs::path path = source_file(store, digest);
    std::error_code ec;
    if (!fs::exists(path, ec)) return {};
    std::vector<std::string> sources;
    std::istringstream lines(read_file(path));
    for (std::string line; std::getline(lines, line);) {
        if (!line.empty()) sources.push_back(line);
    }
    return sources;
}

void remember_source(const store::Store& store, std::string_view digest, const std::string& repository) {
    auto sources = known_sources(store, digest);
    if (!sources.empty() && sources.back() == repository) return;
    std::erase(sources, repository);
    sources.push_back(repository);
    if (sources.size() > max_sources) sources.erase(sources.begin(), sources.end() - max_sources);
    std::string text;
    for (const auto& s : sources) text += s + "\n";
    write_file_replace(source_file(store, digest), text, 0644);
}

std::optional<std::string> mount_source(const store::Store& store, std::string_view digest, std::string_view domain,
                                        std::string_view path) {
    const std::string prefix = std::string(domain) + "/";
    const auto sources = known_sources(store, digest);
    for (auto it = sources.rbegin(); it != sources.rend(); ++it) {
        if (it->starts_with(prefix) && std::string_view(*it).substr(prefix.size()) != path) return it->substr(prefix.size());
    }
    return std::nullopt;
}

} // namespace strata::registry
