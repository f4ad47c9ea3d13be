#include "store/platform.hpp"

#include "util/error.hpp"

#include <algorithm>
#include <sys/utsname.h>
#include <vector>

namespace strata::store {

namespace {

std::string json_string(const nlohmann::json& object, const char* key) {
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Platform platform_of(const nlohmann::json& entry) {
    const auto it = entry.find("platform");
    if (it == entry.end() || !it->is_object()) return {};
    return normalised({json_string(*it, "os"), json_string(*it, "architecture"), json_string(*it, "variant")});
}

const nlohmann::json& manifests_of(const nlohmann::json& index) {
    const auto manifests = index.find("manifests");
    if (manifests == index.end() || !manifests->is_array()) throw Error("the index has no manifests array");
    return *manifests;
}

} // namespace

std::string Platform::string() const { return os + "/" + architecture + (variant.empty() ? "" : "/" + variant); }

Platform normalised(Platform p) {
    if (p.architecture == "x86_64" || p.architecture == "x86-64") p.architecture = "amd64";
    if (p.architecture == "aarch64") p.architecture = "arm64";
    if (p.architecture == "armhf") p = {p.os, "arm", "v7"};
    if (p.architecture == "armel") p = {p.os, "arm", "v6"};
    if (p.architecture == "arm64" && p.variant == "v8") p.variant.clear();
    if (p.architecture == "amd64" && p.variant == "v1") p.variant.clear();
    return p;
}

Platform parse_platform(std::string_view text) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (true) {
        const auto slash = text.find('/', start);
        parts.emplace_back(text.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    const bool empty_part = std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); });
    if (parts.size() < 2 || parts.size() > 3 || empty_part)
        throw Error("invalid platform '" + std::string(text) + "': expected os/arch[/variant]");
    return normalised({parts[0], parts[1], parts.size() == 3 ? parts[2] : ""});
}

Platform host_platform() {
    utsname u{};
    if (::uname(&u) != 0) throw_errno("uname");
    const std::string machine = u.machine;
    if (machine.starts_with("armv")) return {"linux", "arm", "v" + machine.substr(4, 1)};
    if (machine == "i386" || machine == "i686") return {"linux", "386", ""};
    return normalised({"linux", machine, ""});
}

std::optional<Descriptor> platform_manifest(const nlohmann::json& index, const Platform& wanted) {
    const nlohmann::json& manifests = manifests_of(index);
    const Platform want = normalised(wanted);
    const nlohmann::json* first_of_arch = nullptr;
    for (const auto& entry : manifests) {
        const Platform p = platform_of(entry);
        if (p.os != want.os || p.architecture != want.architecture) continue;
        if (p.variant == want.variant) return descriptor_from_json(entry);
        if (want.variant.empty() && !first_of_arch) first_of_arch = &entry;
    }
    if (first_of_arch) return descriptor_from_json(*first_of_arch);
    if (manifests.size() == 1 && !manifests[0].contains("platform")) return descriptor_from_json(manifests[0]);
    return std::nullopt;
}

Descriptor select_platform(const nlohmann::json& index, const Platform& wanted) {
    if (auto found = platform_manifest(index, wanted)) return *found;
    std::string available;
    for (const auto& entry : manifests_of(index)) {
        const Platform p = platform_of(entry);
        if (!p.os.empty() && p.os != "unknown") available += (available.empty() ? "" : ", ") + p.string();
    }
    throw Error("no image for " + normalised(wanted).string() + " in the index (it has " +
                (available.empty() ? "none" : available) + ")");
}

bool is_index_media_type(std::string_view t) {
    return t == media::index || t == "application/vnd.docker.distribution.manifest.list.v2+json";
}

bool is_manifest_media_type(std::string_view t) {
    return t == media::manifest || t == "application/vnd.docker.distribution.manifest.v2+json";
}

} // namespace strata::store
